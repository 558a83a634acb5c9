// route_security: how delivery protects the connections of one route: the TLS mode, how the
// next hop's certificate is checked, and the credentials for SMTP AUTH at a smart host.
//
// Built once per route from its RouteConfig (the trust store is loaded once into an SSL context
// shared by every connection of that route) and handed to SmtpClient::deliver(). The password
// lives only here and in the config: nothing in this file or the client ever logs it.
//
// Verification (tls_verify): the chain must lead to ca_file or the system CA store and the
// certificate must carry the checked name: tls_name, or else the smart host's own host (a name
// checked against DNS subjectAltNames, an IP literal against IP subjectAltNames).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <asio/ssl/context.hpp>

#include "core/config/config.hpp"

namespace relayguard::delivery {

struct Credentials {
  std::string username;
  std::string password;  // secret
};

class RouteSecurity {
 public:
  // Plaintext, no AUTH: what a route with tls = "none" gets.
  static std::shared_ptr<const RouteSecurity> plaintext();
  // From a route's config. Throws std::runtime_error when the trust store cannot be loaded (the
  // config loader has checked ca_file already, so this means it changed since).
  static std::shared_ptr<const RouteSecurity> fromRoute(const RouteConfig& route);

  // kStartTls: STARTTLS when offered, else plaintext; kStartTlsRequired: STARTTLS or no
  // delivery; kTls: TLS from the first byte (port 465 style).
  RouteTls mode() const { return mode_; }
  bool verify() const { return verify_; }
  // The name the certificate of `host` must carry.
  const std::string& nameFor(const std::string& host) const;
  const std::optional<Credentials>& credentials() const { return credentials_; }
  // The context new TLS streams are made from (nullptr when mode() is RouteTls::kNone).
  asio::ssl::context* context() const { return context_.get(); }
  // Connections are pooled per endpoint and per this key: a connection made for one security
  // setting (plaintext, another CA, another user) is never reused for another.
  const std::string& poolKey() const { return pool_key_; }

 private:
  RouteTls mode_ = RouteTls::kNone;
  bool verify_ = false;
  std::string tls_name_;
  std::optional<Credentials> credentials_;
  std::shared_ptr<asio::ssl::context> context_;
  std::string pool_key_;
};

}  // namespace relayguard::delivery
