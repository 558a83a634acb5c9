// route_security: building a route's TLS client context and credentials (see
// route_security.hpp).
#include "core/delivery/route_security.hpp"

#include <atomic>
#include <cstdint>
#include <stdexcept>

#include <openssl/ssl.h>

namespace relayguard::delivery {
namespace {

std::shared_ptr<asio::ssl::context> makeContext(const RouteConfig& route) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  // TLS 1.2 is the floor (RFC 8996 retired 1.0 and 1.1); compression stays off (CRIME).
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  context->set_options(asio::ssl::context::default_workarounds |
                       asio::ssl::context::no_compression);
  if (route.tls_verify) {
    std::error_code error;
    if (route.ca_file.empty()) {
      context->set_default_verify_paths(error);
    } else {
      context->load_verify_file(route.ca_file.string(), error);
    }
    if (error) {
      throw std::runtime_error(route.name() + ": cannot load the trusted CAs" +
                               (route.ca_file.empty() ? std::string(" of the system")
                                                      : " from " + route.ca_file.string()) +
                               ": " + error.message());
    }
  }
  return context;
}

}  // namespace

std::shared_ptr<const RouteSecurity> RouteSecurity::plaintext() {
  static const auto none = std::make_shared<const RouteSecurity>();
  return none;
}

std::shared_ptr<const RouteSecurity> RouteSecurity::fromRoute(const RouteConfig& route) {
  auto security = std::make_shared<RouteSecurity>();
  security->mode_ = route.tls;
  if (security->mode_ == RouteTls::kNone) {
    return plaintext();
  }
  security->verify_ = route.tls_verify;
  security->tls_name_ = route.tls_name;
  security->context_ = makeContext(route);
  if (!route.username.empty()) {
    security->credentials_ = Credentials{route.username, route.password};
  }
  // Each object gets its own key: it stands for its CA file and credentials without putting
  // either into the key.
  static std::atomic<std::uint64_t> next_id{1};
  security->pool_key_ = "|security" + std::to_string(next_id++) + "|" +
                        std::string(relayguard::toString(security->mode_));
  return security;
}

const std::string& RouteSecurity::nameFor(const std::string& host) const {
  return tls_name_.empty() ? host : tls_name_;
}

}  // namespace relayguard::delivery
