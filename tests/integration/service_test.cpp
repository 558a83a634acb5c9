// service_test: `relayguard serve` as a system service. Started as root (the tests run as root)
// with [service] user = "nobody", it binds, then runs as nobody for good (uids, gids, groups and
// capabilities in /proc/PID/status) and mail still flows; a user that does not exist and a spool
// that user cannot write are clear start-up errors. With NOTIFY_SOCKET pointing at a datagram
// socket of the test, systemd's notifications arrive: READY=1 once the listener accepts,
// RELOADING=1 and READY=1 around a SIGHUP reload, STOPPING=1 on SIGTERM. The relay binary's
// malloc is tcmalloc (mapped, and named in the ready line).
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/integration/relay_harness.hpp"

namespace relayguard::test {
namespace {

using namespace std::chrono_literals;

// "Uid:", "Gid:", "Groups:", "CapEff:" ... of a process, each line's value with tabs as spaces.
std::string statusField(pid_t pid, const std::string& field) {
  std::istringstream in(readFile("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(field + ":")) {
      std::string value = line.substr(field.size() + 1);
      for (char& c : value) {
        c = c == '\t' ? ' ' : c;
      }
      return value.substr(value.find_first_not_of(' '));
    }
  }
  return "";
}

class ServiceTest : public IntegrationTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "needs root";
    }
    const passwd* pw = ::getpwnam("nobody");
    ASSERT_NE(pw, nullptr);
    nobody_uid_ = pw->pw_uid;
    nobody_gid_ = pw->pw_gid;
    // nobody must reach the relay's folder (the rules are read after the switch).
    std::filesystem::permissions(dir_.path(), std::filesystem::perms(0755));
  }

  RelayOptions asNobody() {
    RelayOptions o;
    sink_ = &startSink(freeLoopbackPort());
    o.smart_hosts = {"127.0.0.1:" + std::to_string(sink_->port())};
    o.extra_config = {"[service]", "user = \"nobody\""};
    return o;
  }

  uid_t nobody_uid_ = 0;
  gid_t nobody_gid_ = 0;
  Sink* sink_ = nullptr;
};

TEST_F(ServiceTest, DropsRootToTheServiceUserAndMailStillFlows) {
  Relay& relay = makeRelay(asNobody());
  std::filesystem::create_directories(relay.spoolDir());
  ASSERT_EQ(::chown(relay.spoolDir().c_str(), nobody_uid_, nobody_gid_), 0);
  relay.start();

  const pid_t pid = relay.process().pid();
  const std::string uid = std::to_string(nobody_uid_);
  const std::string gid = std::to_string(nobody_gid_);
  EXPECT_EQ(statusField(pid, "Uid"), uid + " " + uid + " " + uid + " " + uid);
  EXPECT_EQ(statusField(pid, "Gid"), gid + " " + gid + " " + gid + " " + gid);
  EXPECT_EQ(statusField(pid, "CapEff"), "0000000000000000");
  EXPECT_EQ(statusField(pid, "CapPrm"), "0000000000000000");
  EXPECT_EQ(statusField(pid, "Groups").find("0 "), std::string::npos) << statusField(pid, "Groups");
  EXPECT_TRUE(relay.process().waitForLog("event=dropped_root user=nobody", 1s));

  const SmtpTransaction t = relay.send("app@app.test", {"user@ext.test"},
                                       makeMessage("app@app.test", "user@ext.test", "s", "b"));
  ASSERT_EQ(t.final.code, 250) << t.final;
  ASSERT_TRUE(sink_->waitForMessages(1, 10s));
  // What the relay wrote belongs to nobody.
  struct stat st {};
  ASSERT_EQ(::stat((relay.spoolDir() / "audit").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, nobody_uid_);
  EXPECT_EQ(relay.terminate(10s), 0);
}

TEST_F(ServiceTest, UnknownUserIsAStartupError) {
  RelayOptions o = asNobody();
  o.extra_config = {"[service]", "user = \"no-such-user-rg\""};
  Relay& relay = makeRelay(std::move(o));
  const CommandResult r = relay.cli({"serve"});
  EXPECT_EQ(r.exit_status, 1) << r.err;
  EXPECT_NE(r.err.find(relay.configFile().string() + ":"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("user: no such user 'no-such-user-rg'"), std::string::npos) << r.err;
}

TEST_F(ServiceTest, SpoolTheUserCannotWriteIsAStartupError) {
  Relay& relay = makeRelay(asNobody());
  std::filesystem::create_directories(relay.spoolDir());  // root's, mode 0755
  const CommandResult r = relay.cli({"serve"});
  EXPECT_EQ(r.exit_status, 1) << r.err;
  EXPECT_NE(r.err.find("is not readable and writable by nobody"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("chown -R nobody: " + relay.spoolDir().string()), std::string::npos)
      << r.err;
}

// A datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::filesystem::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("cannot bind " + path.string());
    }
  }
  ~NotifySocket() { ::close(fd_); }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // The next datagram, or "" after `timeout`.
  std::string next(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
      return "";
    }
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

TEST_F(ServiceTest, NotifiesSystemd) {
  Relay& relay = makeRelay(RelayOptions{});
  NotifySocket notify(dir_.path() / "notify.sock");
  ::setenv("NOTIFY_SOCKET", (dir_.path() / "notify.sock").c_str(), 1);
  ChildProcess serve(relayguardBinary(), {"serve", "--config", relay.configFile().string()},
                     dir_.path() / "serve.log");
  ::unsetenv("NOTIFY_SOCKET");

  const std::string ready = notify.next(10s);
  // READY=1 comes once the listener accepts connections.
  const bool accepting = canConnect("127.0.0.1", relay.port());
  EXPECT_NE(ready.find("READY=1"), std::string::npos) << ready << "\n" << serve.log();
  EXPECT_TRUE(accepting);

  serve.signal(SIGHUP);
  const std::string reloading = notify.next(10s);
  EXPECT_NE(reloading.find("RELOADING=1"), std::string::npos) << reloading;
  const std::string reloaded = notify.next(10s);
  EXPECT_NE(reloaded.find("READY=1"), std::string::npos) << reloaded;

  serve.signal(SIGTERM);
  const std::string stopping = notify.next(10s);
  EXPECT_NE(stopping.find("STOPPING=1"), std::string::npos) << stopping;
  EXPECT_EQ(serve.wait(10s), 0);
}

class ServeProcessTest : public IntegrationTest {};

TEST_F(ServeProcessTest, MallocIsTcmalloc) {
  if (!RELAYGUARD_TCMALLOC) {
    GTEST_SKIP() << "built with RELAYGUARD_TCMALLOC=OFF";
  }
  Sink& sink = startSink(freeLoopbackPort());
  RelayOptions o;
  o.smart_hosts = {"127.0.0.1:" + std::to_string(sink.port())};
  Relay& relay = startRelay(o);
  // Linked is not enough: the ready line reports tcmalloc only when it counts the bytes malloc
  // has handed out (glibc's malloc: "tuned").
  EXPECT_TRUE(relay.process().waitForLog("malloc=tcmalloc", 1s)) << relay.process().log();
  const std::string maps = readFile("/proc/" + std::to_string(relay.process().pid()) + "/maps");
  EXPECT_NE(maps.find("libtcmalloc_minimal.so"), std::string::npos);

  const SmtpTransaction t = relay.send("app@app.test", {"user@ext.test"},
                                       makeMessage("app@app.test", "user@ext.test", "s", "b"));
  ASSERT_EQ(t.final.code, 250) << t.final;
  EXPECT_TRUE(sink.waitForMessages(1, 10s));
}

}  // namespace
}  // namespace relayguard::test
