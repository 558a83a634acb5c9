// unbound_resolver: the program's resolver, over libunbound (one ub_ctx for the whole process,
// so every caller shares unbound's TTL-respecting cache).
//
// Servers: [dns] servers (IP and port each) are forwarders; with none, the system's
// /etc/resolv.conf and /etc/hosts (no usable resolv.conf: unbound recurses from the root).
// With explicit servers, "test." goes to them rather than to unbound's built-in RFC 6761
// NXDOMAIN (test zones use it), and so do the reverse zones of the documentation address ranges
// (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32).
//
// Timeouts and retries: each query attempt gets `timeout`; a query that times out or fails
// temporarily (SERVFAIL, REFUSED) is asked again, `attempts` times in all; unbound itself
// retransmits within an attempt. The final failure is Status::kTempFail.
//
// Threads: unbound resolves on its own thread; results arrive through ub_fd(), watched on a
// strand of the given executor only while queries are outstanding (an idle resolver keeps no
// io_context busy). queryBlocking() needs that executor running on another thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>

#include "dns/resolver.hpp"

namespace relayguard::dns {

struct ServerAddress {
  std::string ip;  // an IP literal
  std::uint16_t port = 53;
};

struct ResolverOptions {
  std::vector<ServerAddress> servers;  // empty: the system's resolver
  std::chrono::milliseconds timeout{5000};
  unsigned attempts = 2;
};

class UnboundResolver : public Resolver {
 public:
  // Throws std::runtime_error when libunbound refuses the settings.
  UnboundResolver(asio::any_io_executor executor, ResolverOptions options);
  ~UnboundResolver() override;
  UnboundResolver(const UnboundResolver&) = delete;
  UnboundResolver& operator=(const UnboundResolver&) = delete;

  asio::awaitable<Answer> query(const std::string& name, RrType type) override;
  Answer queryBlocking(const std::string& name, RrType type) override;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace relayguard::dns
