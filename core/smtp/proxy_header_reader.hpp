// proxy_header_reader: reads the PROXY protocol header (core/net/proxy_header.hpp) from a freshly
// accepted connection on a `proxy_protocol` listener, before the greeting and before any TLS
// handshake. It reads exactly the header's bytes (as many as the parser says certainly belong to
// it, never more), so what the client sends next stays in the socket for the session, and gives
// up after `timeout`. The result is a value: the header, or why there is none, for the log.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "core/net/proxy_header.hpp"

namespace relayguard::smtp {

// How long a load balancer has to send the whole header.
inline constexpr std::chrono::seconds kProxyHeaderTimeout{10};

struct ProxyHeaderRead {
  std::optional<net::ProxyHeader> header;
  std::string error;    // when there is no header: malformed, timed out, closed
  bool silent = false;  // closed without a single byte: a balancer's plain TCP health check
};

asio::awaitable<ProxyHeaderRead> readProxyHeader(asio::ip::tcp::socket& socket,
                                                 asio::steady_timer& timer,
                                                 std::chrono::steady_clock::duration timeout);

}  // namespace relayguard::smtp
