// control_socket: the relay's local command channel (see control_socket.hpp).
#include "core/server/control_socket.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/read_until.hpp>
#include <asio/streambuf.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace relayguard {
namespace {

constexpr auto kUseTuple = asio::experimental::as_tuple(asio::use_awaitable);
// A request names an id, a few addresses and a reason: far below this.
constexpr std::size_t kMaxRequest = 64 * 1024;

nlohmann::json errorResponse(const std::string& what) {
  return {{"ok", false}, {"error", what}};
}

}  // namespace

std::string userName(uid_t uid) {
  std::string buf(4096, '\0');
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return found->pw_name;
  }
  return "uid " + std::to_string(uid);
}

ControlSocket::ControlSocket(asio::io_context& io, std::filesystem::path path, Handler handler)
    : io_(io), path_(std::move(path)), handler_(std::move(handler)), acceptor_(io) {}

ControlSocket::~ControlSocket() {
  std::error_code ec;
  acceptor_.close(ec);
}

void ControlSocket::start() {
  std::error_code ec;
  std::filesystem::remove(path_, ec);  // stale: the spool lock says no other relay owns it
  const mode_t old = ::umask(0077);
  acceptor_.open(asio::local::stream_protocol(), ec);
  if (!ec) {
    acceptor_.bind(asio::local::stream_protocol::endpoint(path_.string()), ec);
  }
  ::umask(old);
  if (!ec) {
    acceptor_.listen(16, ec);
  }
  if (ec) {
    throw std::runtime_error("cannot create control socket " + path_.string() + ": " +
                             ec.message());
  }
  asio::co_spawn(io_, acceptLoop(), asio::detached);
}

void ControlSocket::stop() {
  asio::post(io_, [this] {
    std::error_code ec;
    acceptor_.close(ec);
    std::filesystem::remove(path_, ec);
  });
}

asio::awaitable<void> ControlSocket::acceptLoop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(kUseTuple);
    if (ec) {
      if (!acceptor_.is_open()) {
        co_return;
      }
      continue;
    }
    asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> ControlSocket::serve(asio::local::stream_protocol::socket socket) {
  asio::streambuf buf(kMaxRequest);
  auto [ec, n] = co_await asio::async_read_until(socket, buf, '\n', kUseTuple);
  if (ec) {
    co_return;
  }
  const std::string line(asio::buffers_begin(buf.data()),
                         asio::buffers_begin(buf.data()) + static_cast<std::ptrdiff_t>(n) - 1);
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    co_return;  // a peer we cannot identify gets no service
  }
  const ControlPeer peer{cred.uid, userName(cred.uid)};
  nlohmann::json response;
  try {
    const nlohmann::json request = nlohmann::json::parse(line);
    response = co_await handler_(request, peer);
  } catch (const std::exception& e) {
    response = errorResponse(e.what());
  }
  const std::string text = response.dump() + "\n";
  co_await asio::async_write(socket, asio::buffer(text), kUseTuple);
}

std::optional<nlohmann::json> ControlSocket::request(const std::filesystem::path& path,
                                                     const nlohmann::json& request) {
  asio::io_context io;
  asio::local::stream_protocol::socket socket(io);
  std::error_code ec;
  socket.connect(asio::local::stream_protocol::endpoint(path.string()), ec);
  if (ec) {
    return std::nullopt;
  }
  const std::string req = request.dump() + "\n";
  asio::write(socket, asio::buffer(req), ec);
  if (ec) {
    return std::nullopt;
  }
  asio::streambuf buf(kMaxRequest);
  const std::size_t n = asio::read_until(socket, buf, '\n', ec);
  if (ec) {
    return errorResponse("the relay closed the control connection: " + ec.message());
  }
  try {
    return nlohmann::json::parse(
        std::string(asio::buffers_begin(buf.data()),
                    asio::buffers_begin(buf.data()) + static_cast<std::ptrdiff_t>(n) - 1));
  } catch (const nlohmann::json::exception& e) {
    return errorResponse(std::string("unreadable answer from the relay: ") + e.what());
  }
}

}  // namespace relayguard
