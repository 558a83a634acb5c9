// service_notify_test: the sd_notify messages arrive on the socket NOTIFY_SOCKET names (a
// datagram socket of the test standing in for systemd), and nothing happens without it.
#include "core/server/service_notify.hpp"

#include <cstdlib>
#include <cstring>
#include <string>

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/support/temp_dir.hpp"

namespace relayguard::service {
namespace {

class ServiceNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (dir_.path() / "notify.sock").string();
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
  }

  std::string next() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 2000) != 1) {
      return "";
    }
    char buf[1024];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  }

  test::TempDir dir_;
  std::string path_;
  int fd_ = -1;
};

TEST_F(ServiceNotifyTest, SendsTheStates) {
  notifyReady("ready");
  EXPECT_EQ(next(), "READY=1\nSTATUS=ready");
  notifyReloading();
  EXPECT_EQ(next(), "RELOADING=1\nSTATUS=reloading");
  notifyStopping();
  EXPECT_EQ(next(), "STOPPING=1\nSTATUS=stopping");
}

TEST_F(ServiceNotifyTest, NothingWithoutNotifySocket) {
  ::unsetenv("NOTIFY_SOCKET");
  notifyReady("ready");
  pollfd p{fd_, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 100), 0);
}

}  // namespace
}  // namespace relayguard::service
