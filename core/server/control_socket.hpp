// control_socket: the running relay's local command channel, a Unix socket at
// <spool_dir>/control.sock (mode 0600, so only the relay's user and root can connect), used by
// the queue and quarantine commands so that the CLI never edits files the relay is working on.
//
// One request per connection: one line of JSON each way, {"command": "...", ...} and
// {"ok": true, ...} or {"ok": false, "error": "..."} (the commands: control_commands.hpp). The
// server learns who is asking from the kernel (SO_PEERCRED), never from the request, so audit
// lines can name the operator.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>
#include <nlohmann/json.hpp>
#include <sys/types.h>

namespace relayguard {

// The process on the other end of a control connection.
struct ControlPeer {
  uid_t uid = 0;
  std::string user;  // the user name of uid ("uid N" if it has none)
};

// The operating-system user name of uid, or "uid N".
std::string userName(uid_t uid);

class ControlSocket {
 public:
  // Answers one request with one response.
  using Handler = std::function<asio::awaitable<nlohmann::json>(const nlohmann::json& request,
                                                                const ControlPeer& peer)>;

  ControlSocket(asio::io_context& io, std::filesystem::path path, Handler handler);
  ~ControlSocket();
  void start();
  void stop();

  // Client side for the CLI: sends one request; nullopt if no relay is listening. A relay that
  // accepts the connection but answers nothing readable gives {"ok": false, "error": ...}.
  static std::optional<nlohmann::json> request(const std::filesystem::path& path,
                                               const nlohmann::json& request);

 private:
  asio::awaitable<void> acceptLoop();
  asio::awaitable<void> serve(asio::local::stream_protocol::socket socket);

  asio::io_context& io_;
  std::filesystem::path path_;
  Handler handler_;
  asio::local::stream_protocol::acceptor acceptor_;
};

}  // namespace relayguard
