// control_socket: the running relay's local command channel, a Unix socket at
// <spool_dir>/control.sock (mode 0600), used by `relayguard queue flush|delete` so that the CLI
// never edits files the scheduler is working on. One request line per connection:
//   flush            -> "ok N\n"
//   delete QUEUEID   -> "ok\n" | "error not found\n" | "error busy\n"
//   ping             -> "ok\n"
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>

namespace relayguard {

class ControlSocket {
 public:
  // Answers one request line with one response line (without the newline).
  using Handler = std::function<asio::awaitable<std::string>(const std::string& request)>;

  ControlSocket(asio::io_context& io, std::filesystem::path path, Handler handler);
  ~ControlSocket();
  void start();
  void stop();

  // Client side for the CLI: sends one request; nullopt if no relay is listening.
  static std::optional<std::string> request(const std::filesystem::path& path,
                                            const std::string& line);

 private:
  asio::awaitable<void> acceptLoop();
  asio::awaitable<void> serve(asio::local::stream_protocol::socket socket);

  asio::io_context& io_;
  std::filesystem::path path_;
  Handler handler_;
  asio::local::stream_protocol::acceptor acceptor_;
};

}  // namespace relayguard
