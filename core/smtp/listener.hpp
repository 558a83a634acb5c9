// listener: accepts connections on one address and runs a Session for each, within the
// connection limits. Each session runs on its own strand of the shared io_context, so the
// I/O threads serve many sessions without locks. stop() closes the socket and asks every live
// session to finish (SIGTERM); the listener tracks them so the server can wait for the drain.
//
// PROXY protocol (requireProxyHeader): connections from addresses outside the trusted load
// balancers are closed at once without a greeting; the others must send a PROXY header first
// (proxy_header_reader.hpp), whose client address then replaces the peer address for the
// connection limits and the whole session. A missing or malformed header closes the connection.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include "core/net/endpoint.hpp"
#include "core/net/ip_address.hpp"
#include "core/smtp/connection_limiter.hpp"
#include "core/smtp/session.hpp"

namespace relayguard::smtp {

// Opens, binds and listens on `endpoint` (connections wait in the backlog until a Listener
// accepts them). Throws std::runtime_error naming the address on failure.
asio::ip::tcp::acceptor bindListener(asio::io_context& io, const net::Endpoint& endpoint);

class Listener {
 public:
  // `bound`: an acceptor from bindListener() (bound before privileges were dropped); a closed
  // one makes start() bind.
  Listener(asio::io_context& io, net::Endpoint endpoint, SessionSettings settings,
           MessageHandler& handler, ConnectionLimiter& limiter, asio::ip::tcp::acceptor bound);
  Listener(asio::io_context& io, net::Endpoint endpoint, SessionSettings settings,
           MessageHandler& handler, ConnectionLimiter& limiter);
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Every connection must come from `trusted` and start with a PROXY header. Before start().
  void requireProxyHeader(std::vector<net::Cidr> trusted);
  // Binds (unless bound already) and starts accepting. Throws std::runtime_error naming the
  // address on failure.
  void start();
  // Stops accepting and asks live sessions to finish.
  void stop();
  std::size_t activeSessions() const;
  const net::Endpoint& endpoint() const { return endpoint_; }

 private:
  asio::awaitable<void> acceptLoop();
  // Reads the PROXY header of a connection from a trusted load balancer, then runs its session.
  asio::awaitable<void> proxiedConnection(asio::ip::tcp::socket socket, std::string balancer);
  // Runs a session for `client_ip` within the connection limits (or refuses it with 421).
  void startSession(asio::ip::tcp::socket socket, const std::string& client_ip);
  bool trustedBalancer(const std::string& ip) const;
  void refuse(asio::ip::tcp::socket& socket, const Reply& reply);

  asio::io_context& io_;
  net::Endpoint endpoint_;
  SessionSettings settings_;
  MessageHandler& handler_;
  ConnectionLimiter& limiter_;
  asio::ip::tcp::acceptor acceptor_;
  std::optional<std::vector<net::Cidr>> proxy_from_;  // set: a PROXY protocol listener
  // Connections still sending their PROXY header are not tracked: they end within the header
  // timeout, and one whose header comes after stop() is closed.
  std::atomic<bool> stopped_{false};
  mutable std::mutex mutex_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
};

}  // namespace relayguard::smtp
