// destination: smart hosts or MX hosts for one delivery attempt (see destination.hpp).
#include "core/delivery/destination.hpp"

#include "core/net/ip_address.hpp"
#include "dns/mx_resolver.hpp"

namespace relayguard::delivery {

asio::awaitable<NextHops> nextHops(const RouteConfig& route, const std::string& domain,
                                   dns::Resolver& resolver, const DeliveryConfig& delivery) {
  NextHops hops;
  if (!route.smart_hosts.empty()) {
    hops.endpoints = route.smart_hosts;
    hops.via = "smart hosts of " + route.name();
    co_return hops;
  }
  if (domain.size() > 2 && domain.front() == '[' && domain.back() == ']') {
    std::string literal = domain.substr(1, domain.size() - 2);
    if (literal.rfind("IPv6:", 0) == 0 || literal.rfind("ipv6:", 0) == 0) {
      literal = literal.substr(5);
    }
    if (!net::IpAddress::parse(literal)) {
      hops.error = smtp::Reply{550, "5.1.2", "bad address literal " + domain};
      co_return hops;
    }
    hops.endpoints.push_back(net::Endpoint{literal, delivery.mx_port});
    hops.via = "address literal";
    co_return hops;
  }
  dns::MxOptions options;
  options.max_hosts = delivery.mx_max_hosts;
  const dns::MxResult mx = co_await dns::resolveMx(resolver, domain, options);
  using Kind = dns::MxResult::Kind;
  using Reason = dns::MxResult::Reason;
  if (mx.kind == Kind::kPermanent) {
    hops.error = mx.reason == Reason::kNullMx ? smtp::Reply{556, "5.1.10", mx.error}
                                              : smtp::Reply{550, "5.1.2", mx.error};
    co_return hops;
  }
  if (mx.kind == Kind::kTemporary) {
    hops.error = smtp::Reply{451, "4.4.3", mx.error};
    co_return hops;
  }
  hops.via = "MX of " + domain + ":";
  for (const auto& host : mx.hosts) {
    hops.via += " " + host.name;
    for (const auto& address : host.addresses) {
      hops.endpoints.push_back(net::Endpoint{address, delivery.mx_port});
    }
  }
  co_return hops;
}

}  // namespace relayguard::delivery
