// config: the relay's configuration file (relayguard.toml) as plain, validated structs.
//
// load() reads and checks the whole file up front; every mistake is a ConfigError naming
// file:line:col. Relative paths are resolved against the config file's folder. Defaults follow
// RFC 5321 and CONTRACT.md; see samples/relayguard.toml for an annotated example.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/config/config_error.hpp"
#include "core/config/ldap_auth_config.hpp"
#include "core/net/endpoint.hpp"
#include "core/net/ip_address.hpp"
#include "core/util/log_event.hpp"

namespace relayguard {

enum class ListenerMode { kRelay, kSubmission, kSmtps };

struct ListenerConfig {
  net::Endpoint address;
  ListenerMode mode = ListenerMode::kRelay;
  // PROXY protocol (v1 and v2): every connection starts with a load balancer's header naming the
  // real client, and is accepted only from proxy_from (required, non-empty, when enabled).
  bool proxy_protocol = false;
  std::vector<net::Cidr> proxy_from;
  SourcePosition where;
};

struct TlsConfig {
  std::filesystem::path certificate;
  std::filesystem::path private_key;
};

struct AccessConfig {
  std::vector<net::Cidr> relay_networks;
  std::filesystem::path users_file;  // empty: no local users ([auth.ldap] may still offer AUTH)
  // Brute-force protection per client IP (see core/auth/auth_throttle.hpp): from this many
  // failed AUTHs on, each failure reply waits auth_failure_delay longer (at most 30 s) ...
  std::size_t auth_failures_before_delay = 3;
  std::chrono::milliseconds auth_failure_delay{1000};
  // ... and at this many the address may not AUTH for auth_lockout (0: never locked out).
  std::size_t auth_lockout_failures = 10;
  std::chrono::seconds auth_lockout{15 * 60};
  // Messages (MAIL commands) an authenticated user may start per minute; 0: unlimited.
  std::size_t user_messages_per_minute = 0;
  bool relayAllowed(const net::IpAddress& ip) const;
};

struct LimitsConfig {
  std::uint64_t max_message_size = 25ULL * 1024 * 1024;
  std::size_t max_recipients = 100;
  std::size_t max_connections = 1000;
  std::size_t max_connections_per_ip = 20;
  std::size_t max_command_line = 512;  // RFC 5321 4.5.3.1.4, including CRLF
  std::size_t max_text_line = 1000;    // RFC 5321 4.5.3.1.6, including CRLF
  // The header section of a message (Exim's header_maxsize): the MIME parser's cost grows with
  // the number of header fields, so a message of nothing but headers must not buy CPU time.
  std::uint64_t max_header_bytes = 1024ULL * 1024;
  std::size_t max_errors = 10;                // protocol errors before the session is dropped
  std::chrono::seconds command_timeout{300};  // RFC 5321 4.5.3.2.7: 5 minutes
  std::chrono::seconds data_timeout{600};     // the whole DATA phase
};

enum class RouteTls { kNone, kStartTls, kStartTlsRequired, kTls };

struct RouteConfig {
  std::vector<std::string> domains;  // "*", "example.com", "*.example.com"
  std::vector<net::Endpoint> smart_hosts;
  RouteTls tls = RouteTls::kNone;
  // Check the next hop's certificate (chain to ca_file or the system store, and its name).
  // Default: true for starttls-required and tls, false for opportunistic starttls.
  bool tls_verify = false;
  std::string tls_name;           // the name to check; empty: each smart host's own host
  std::filesystem::path ca_file;  // trusted CAs (PEM); empty: the system CA store
  std::string username;           // AUTH at the smart host; empty: no AUTH
  std::filesystem::path password_file;
  std::string password;  // read from password_file at load time: a secret, never log it
  SourcePosition where;
  bool matches(std::string_view domain_lower) const;
  std::string name() const;  // for logs: "route#N (domains)"
  std::size_t index = 0;
};

struct DeliveryConfig {
  std::vector<std::chrono::seconds> retry{std::chrono::minutes(1), std::chrono::minutes(5),
                                          std::chrono::minutes(15), std::chrono::hours(1),
                                          std::chrono::hours(4)};
  std::chrono::seconds max_age{5 * 86400};
  std::size_t concurrency = 50;      // deliveries in flight in total
  std::size_t per_destination = 20;  // connections per route at once (Postfix: 20)
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds command_timeout{300};
  std::chrono::seconds idle_reuse{10};  // how long a finished connection waits for the next message
  // MX delivery (routes without smart_hosts): the port on MX hosts (25; tests point it at a sink)
  // and how many MX hosts one attempt looks up and tries.
  std::uint16_t mx_port = 25;
  std::size_t mx_max_hosts = 5;
  // Delay before the next attempt after `attempts` failed ones.
  std::chrono::seconds retryDelay(std::size_t attempts) const;
};

struct AuditConfig {
  std::filesystem::path key_file;  // anchor key, kept outside the spool; empty: no anchors
  std::uint64_t max_file_size = 64ULL << 20;
  std::chrono::seconds anchor_interval{60};
  // Reads the key (one trailing newline stripped). Throws ConfigError if it is missing, empty,
  // readable by group or others, or inside the spool.
  std::optional<std::string> loadKey(const std::filesystem::path& spool_dir) const;
};

struct DnsConfig {
  std::vector<net::Endpoint> servers;  // empty: the system's resolver (/etc/resolv.conf)
  std::chrono::seconds timeout{5};     // per query attempt
  std::size_t attempts = 2;            // tries of a query that times out or fails temporarily
};

// [pickup]: an IIS-style pickup folder (pickup_directory.hpp).
struct PickupConfig {
  std::filesystem::path directory;
  std::filesystem::path badmail;  // default: "badmail" beside the pickup folder
  std::chrono::seconds interval{1};
};

// [admin]: the HTTP listener for GET /metrics and GET /healthz (admin_server.hpp). Neither has
// authentication, so a non-loopback address needs allow_remote = true.
struct AdminConfig {
  net::Endpoint address{"127.0.0.1", 9025};
  bool allow_remote = false;
};

// [log]: the process log on stderr (core/util/log_event.hpp). `--log-level` overrides level.
struct LogConfig {
  log::Format format = log::Format::kText;
  std::string level = "info";  // trace | debug | info | warn | error
};

// [service]: running as a system service (core/server/privileges.hpp).
struct ServiceConfig {
  // The user `serve` switches to for good after binding when started as root; empty: it keeps
  // the user it was started as (with a warning when that is root).
  std::string user;
  SourcePosition where;  // of the user key, for errors about it
};

struct Config {
  std::filesystem::path file;
  std::string hostname;
  std::filesystem::path spool_dir;
  std::filesystem::path rules_dir;
  std::vector<ListenerConfig> listeners;
  std::optional<TlsConfig> tls;
  AccessConfig access;
  LimitsConfig limits;
  std::vector<RouteConfig> routes;
  DeliveryConfig delivery;
  DnsConfig dns;
  AuditConfig audit;
  std::optional<PickupConfig> pickup;
  std::optional<AdminConfig> admin;  // absent: no admin listener
  LogConfig log;
  ServiceConfig service;
  std::optional<LdapAuthConfig> auth_ldap;  // [auth.ldap]: AUTH checked against a directory

  // The first route whose domains match, or nullptr.
  const RouteConfig* routeFor(std::string_view domain) const;

  static Config load(const std::filesystem::path& file);
};

std::string_view toString(ListenerMode m);
std::string_view toString(RouteTls t);

}  // namespace relayguard
