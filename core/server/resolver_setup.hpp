// resolver_setup: the resolver options that [dns] in relayguard.toml asks for.
#pragma once

#include "core/config/config.hpp"
#include "dns/unbound_resolver.hpp"

namespace relayguard {

inline dns::ResolverOptions resolverOptions(const DnsConfig& config) {
  dns::ResolverOptions out;
  for (const auto& s : config.servers) {
    out.servers.push_back(dns::ServerAddress{s.host, s.port});
  }
  out.timeout = config.timeout;
  out.attempts = static_cast<unsigned>(config.attempts);
  return out;
}

}  // namespace relayguard
