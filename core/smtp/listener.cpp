// listener: accept loop and session tracking (see listener.hpp).
#include "core/smtp/listener.hpp"

#include <algorithm>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>

#include "core/metrics/relay_metrics.hpp"
#include "core/smtp/proxy_header_reader.hpp"
#include "core/util/log_event.hpp"

namespace relayguard::smtp {

asio::ip::tcp::acceptor bindListener(asio::io_context& io, const net::Endpoint& endpoint) {
  std::error_code ec;
  const auto address = asio::ip::make_address(endpoint.host, ec);
  if (ec) {
    throw std::runtime_error("listener " + endpoint.toString() + ": not an IP address");
  }
  const asio::ip::tcp::endpoint ep(address, endpoint.port);
  asio::ip::tcp::acceptor acceptor(io);
  acceptor.open(ep.protocol(), ec);
  if (!ec) {
    acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
    if (address.is_v6()) {
      acceptor.set_option(asio::ip::v6_only(true), ec);
    }
    acceptor.bind(ep, ec);
  }
  if (!ec) {
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    throw std::runtime_error("cannot listen on " + endpoint.toString() + ": " + ec.message());
  }
  return acceptor;
}

Listener::Listener(asio::io_context& io, net::Endpoint endpoint, SessionSettings settings,
                   MessageHandler& handler, ConnectionLimiter& limiter,
                   asio::ip::tcp::acceptor bound)
    : io_(io),
      endpoint_(std::move(endpoint)),
      settings_(std::move(settings)),
      handler_(handler),
      limiter_(limiter),
      acceptor_(std::move(bound)) {}

Listener::Listener(asio::io_context& io, net::Endpoint endpoint, SessionSettings settings,
                   MessageHandler& handler, ConnectionLimiter& limiter)
    : Listener(io, std::move(endpoint), std::move(settings), handler, limiter,
               asio::ip::tcp::acceptor(io)) {}

void Listener::requireProxyHeader(std::vector<net::Cidr> trusted) {
  proxy_from_ = std::move(trusted);
}

void Listener::start() {
  if (!acceptor_.is_open()) {
    acceptor_ = bindListener(io_, endpoint_);
  }
  endpoint_.port = acceptor_.local_endpoint().port();
  log::info("listening", {{"address", endpoint_.toString()},
                          {"mode", toString(settings_.mode)},
                          {"proxy_protocol", proxy_from_.has_value()}});
  asio::co_spawn(io_, acceptLoop(), asio::detached);
}

void Listener::stop() {
  stopped_ = true;
  asio::post(io_, [this] {
    std::error_code ec;
    acceptor_.close(ec);
  });
  std::lock_guard lock(mutex_);
  for (auto& [ptr, weak] : sessions_) {
    if (auto s = weak.lock()) {
      s->shutdown();
    }
  }
}

std::size_t Listener::activeSessions() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

bool Listener::trustedBalancer(const std::string& ip) const {
  const auto addr = net::IpAddress::parse(ip);
  return addr && std::any_of(proxy_from_->begin(), proxy_from_->end(),
                             [&](const net::Cidr& c) { return c.contains(*addr); });
}

void Listener::refuse(asio::ip::tcp::socket& socket, const Reply& reply) {
  // Best effort, never blocking: the refused client gets its 421 if the send buffer has room.
  std::error_code ec;
  socket.non_blocking(true, ec);
  const std::string wire = reply.wire();
  socket.write_some(asio::buffer(wire), ec);
  socket.close(ec);
}

asio::awaitable<void> Listener::acceptLoop() {
  constexpr auto kUseTuple = asio::experimental::as_tuple(asio::use_awaitable);
  for (;;) {
    // Named, not a temporary inside the co_await expression (g++ 12 may destroy such
    // temporaries twice).
    auto strand = asio::make_strand(io_);
    auto [ec, strand_socket] = co_await acceptor_.async_accept(strand, kUseTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) {
        co_return;
      }
      log::warn("accept_failed", {{"address", endpoint_.toString()}, {"error", ec.message()}});
      continue;  // EMFILE and friends: keep serving the connections we have
    }
    asio::ip::tcp::socket socket(std::move(strand_socket));
    std::string ip = Session::peerAddress(socket);
    if (!proxy_from_) {
      startSession(std::move(socket), ip);
      continue;
    }
    if (!trustedBalancer(ip)) {
      log::warn("connection_refused", {{"client", ip}, {"reason", "not a trusted load balancer"}});
      std::error_code ec_close;
      socket.close(ec_close);
      continue;
    }
    auto executor = socket.get_executor();
    asio::co_spawn(executor, proxiedConnection(std::move(socket), std::move(ip)), asio::detached);
  }
}

asio::awaitable<void> Listener::proxiedConnection(asio::ip::tcp::socket socket,
                                                  std::string balancer) {
  asio::steady_timer timer(socket.get_executor());
  const ProxyHeaderRead read = co_await readProxyHeader(socket, timer, kProxyHeaderTimeout);
  std::error_code ec;
  if (!read.header) {
    if (read.silent) {
      log::debug("proxy_health_check", {{"via", balancer}});  // connected, sent nothing, left
    } else {
      log::warn("connection_refused", {{"via", balancer}, {"reason", read.error}});
    }
    socket.close(ec);
  } else if (stopped_) {
    socket.close(ec);  // the header arrived after stop(): no new sessions
  } else {
    const auto& addresses = read.header->addresses;
    const std::string client = addresses ? addresses->source.toString() : balancer;
    log::debug("proxy_header", {{"version", read.header->version},
                                {"client", client},
                                {"via", balancer},
                                {"local", !addresses}});  // LOCAL/UNKNOWN: the balancer itself
    startSession(std::move(socket), client);
  }
}

void Listener::startSession(asio::ip::tcp::socket socket, const std::string& ip) {
  ConnectionLimiter::Refusal why{};
  auto ticket = limiter_.acquire(ip, why);
  if (!ticket) {
    const bool total = why == ConnectionLimiter::Refusal::kTotal;
    if (settings_.metrics != nullptr) {
      settings_.metrics->connectionRefused(total);
    }
    log::warn("connection_refused",
              {{"client", ip}, {"reason", total ? "max_connections" : "max_connections_per_ip"}});
    refuse(socket, Reply{421, "4.7.0",
                         settings_.hostname + (total ? " Too many connections, try again later"
                                                     : " Too many connections from your address")});
    return;
  }
  auto session = std::make_shared<Session>(std::move(socket), settings_, handler_, ip);
  Session* key = session.get();
  {
    std::lock_guard lock(mutex_);
    sessions_[key] = session;
  }
  if (settings_.metrics != nullptr) {
    settings_.metrics->connectionOpened(settings_.mode);
  }
  asio::co_spawn(
      session->executor(),
      [this, session, key, ticket = std::move(ticket)]() mutable -> asio::awaitable<void> {
        try {
          co_await session->run();
        } catch (const std::exception& e) {
          log::error("session_failed", {{"client", session->clientIp()}, {"error", e.what()}});
        }
        if (settings_.metrics != nullptr) {
          settings_.metrics->connectionClosed(settings_.mode);
        }
        std::lock_guard lock(mutex_);
        sessions_.erase(key);
      },
      asio::detached);
}

}  // namespace relayguard::smtp
