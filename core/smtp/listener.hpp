// listener: accepts connections on one address and runs a Session for each, within the
// connection limits. Each session runs on its own strand of the shared io_context, so the
// I/O threads serve many sessions without locks. stop() closes the socket and asks every live
// session to finish (SIGTERM); the listener tracks them so the server can wait for the drain.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include "core/net/endpoint.hpp"
#include "core/smtp/connection_limiter.hpp"
#include "core/smtp/session.hpp"

namespace relayguard::smtp {

class Listener {
 public:
  Listener(asio::io_context& io, net::Endpoint endpoint, SessionSettings settings,
           MessageHandler& handler, ConnectionLimiter& limiter);
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds and starts accepting. Throws std::runtime_error naming the address on failure.
  void start();
  // Stops accepting and asks live sessions to finish.
  void stop();
  std::size_t activeSessions() const;
  const net::Endpoint& endpoint() const { return endpoint_; }

 private:
  asio::awaitable<void> acceptLoop();
  void refuse(asio::ip::tcp::socket& socket, const Reply& reply);

  asio::io_context& io_;
  net::Endpoint endpoint_;
  SessionSettings settings_;
  MessageHandler& handler_;
  ConnectionLimiter& limiter_;
  asio::ip::tcp::acceptor acceptor_;
  mutable std::mutex mutex_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
};

}  // namespace relayguard::smtp
