// destination: the next hops of one delivery attempt for the recipients of one domain.
//
// A route with smart_hosts: those, in order. A route without: the domain's MX hosts
// (dns/mx_resolver: preference order, random among equals, A/AAAA fallback, at most
// [delivery] mx_max_hosts hosts), each address on [delivery] mx_port. A domain literal
// ("user@[192.0.2.1]") is that address. When there is no hop the error is the reply every
// recipient gets: 5xx for a null MX (556 5.1.10, RFC 7505) or a domain that does not exist
// (550 5.1.2) so the sender gets a bounce, 4xx for a DNS failure so the message is retried.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "core/config/config.hpp"
#include "core/net/endpoint.hpp"
#include "core/smtp/reply.hpp"
#include "dns/resolver.hpp"

namespace relayguard::delivery {

struct NextHops {
  std::vector<net::Endpoint> endpoints;  // in the order to try
  std::optional<smtp::Reply> error;      // set when there is no hop to try
  std::string via;                       // for logs: how the hops were found
};

asio::awaitable<NextHops> nextHops(const RouteConfig& route, const std::string& domain,
                                   dns::Resolver& resolver, const DeliveryConfig& delivery);

}  // namespace relayguard::delivery
