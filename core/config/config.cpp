// config: loading and validating relayguard.toml (see config.hpp).
#include "core/config/config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include <sys/stat.h>
#include <unistd.h>

#include "core/config/config_files.hpp"
#include "core/config/toml_reader.hpp"
#include "core/message/address.hpp"
#include "core/util/durable_file.hpp"
#include "core/util/strings.hpp"

namespace relayguard {
namespace {

std::filesystem::path resolve(const std::filesystem::path& base, const std::string& p) {
  return resolveConfigPath(base, p);
}

std::string systemHostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) {
    return "localhost";
  }
  return buf;
}

std::size_t sizeKey(TomlReader& r, std::string_view key, std::size_t def, std::int64_t min,
                    std::int64_t max) {
  const auto v = r.integer(key, min, max);
  return v ? static_cast<std::size_t>(*v) : def;
}

net::Endpoint endpointAt(const TomlReader& r, const SourcePosition& where, const std::string& text,
                         std::string_view key) {
  auto ep = net::Endpoint::parse(text);
  if (!ep) {
    throw ConfigError(
        where, std::string(key) + ": '" + text + "' is not an address:port (IPv6 as [addr]:port)");
  }
  (void)r;
  return *ep;
}

// An array of networks ("10.0.0.0/8", "::1/128", bare addresses); absent: empty.
std::vector<net::Cidr> cidrArray(TomlReader& r, std::string_view key) {
  std::vector<net::Cidr> out;
  const auto nets = r.stringArray(key).value_or(std::vector<std::string>{});
  for (std::size_t i = 0; i < nets.size(); ++i) {
    auto cidr = net::Cidr::parse(nets[i]);
    if (!cidr) {
      throw ConfigError(r.elementPosition(key, i), std::string(key) + ": '" + nets[i] +
                                                       "' is not a network such as 10.0.0.0/8");
    }
    out.push_back(*cidr);
  }
  return out;
}

void loadListeners(Config& cfg, TomlReader& top) {
  for (const toml::table* t : top.tableArray("listener")) {
    TomlReader r(*t, cfg.file);
    ListenerConfig l;
    l.where = r.position();
    const auto address = r.requiredString("address");
    l.address = endpointAt(r, r.keyPosition("address"), address, "address");
    if (!net::IpAddress::parse(l.address.host)) {
      r.fail("address", "listeners bind to an IP address, not a name");
    }
    const auto mode = r.choice("mode", {"relay", "submission", "smtps"}).value_or("relay");
    l.mode = mode == "relay"        ? ListenerMode::kRelay
             : mode == "submission" ? ListenerMode::kSubmission
                                    : ListenerMode::kSmtps;
    l.proxy_protocol = r.boolean("proxy_protocol").value_or(false);
    l.proxy_from = cidrArray(r, "proxy_from");
    if (l.proxy_protocol && l.proxy_from.empty()) {
      r.fail("proxy_protocol",
             "proxy_protocol = true needs proxy_from: the load balancers' addresses (e.g. "
             "[\"10.0.0.5\"]) that may send PROXY headers");
    }
    if (!l.proxy_protocol && r.has("proxy_from")) {
      r.fail("proxy_from", "proxy_from applies only with proxy_protocol = true");
    }
    r.finish();
    cfg.listeners.push_back(std::move(l));
  }
}

void loadAccess(Config& cfg, TomlReader& top, const std::filesystem::path& base) {
  const toml::table* t = top.table("access");
  if (t == nullptr) {
    return;
  }
  TomlReader r(*t, cfg.file);
  cfg.access.relay_networks = cidrArray(r, "relay_networks");
  if (auto users = r.string("users_file")) {
    cfg.access.users_file = resolve(base, *users);
  }
  auto& a = cfg.access;
  a.auth_failures_before_delay =
      sizeKey(r, "auth_failures_before_delay", a.auth_failures_before_delay, 1, 1000000);
  if (auto v = r.duration("auth_failure_delay")) {
    if (*v > std::chrono::seconds(30)) {
      r.fail("auth_failure_delay", "must be at most 30s");
    }
    a.auth_failure_delay = *v;
  }
  a.auth_lockout_failures =
      sizeKey(r, "auth_lockout_failures", a.auth_lockout_failures, 0, 1000000);
  if (auto v = r.duration("auth_lockout")) {
    a.auth_lockout = *v;
  }
  a.user_messages_per_minute =
      sizeKey(r, "user_messages_per_minute", a.user_messages_per_minute, 0, 1000000);
  r.finish();
}

void loadLimits(Config& cfg, TomlReader& top) {
  const toml::table* t = top.table("limits");
  if (t == nullptr) {
    return;
  }
  TomlReader r(*t, cfg.file);
  auto& l = cfg.limits;
  if (auto v = r.size("max_message_size")) {
    if (*v < 1024) {
      r.fail("max_message_size", "must be at least 1K");
    }
    l.max_message_size = *v;
  }
  l.max_recipients = sizeKey(r, "max_recipients", l.max_recipients, 1, 100000);
  l.max_connections = sizeKey(r, "max_connections", l.max_connections, 1, 1000000);
  l.max_connections_per_ip =
      sizeKey(r, "max_connections_per_ip", l.max_connections_per_ip, 1, 1000000);
  l.max_command_line = sizeKey(r, "max_command_line", l.max_command_line, 512, 65536);
  l.max_text_line = sizeKey(r, "max_text_line", l.max_text_line, 1000, 1048576);
  l.max_errors = sizeKey(r, "max_errors", l.max_errors, 1, 1000);
  if (auto v = r.size("max_header_bytes")) {
    if (*v < 1024) {
      r.fail("max_header_bytes", "must be at least 1K");
    }
    l.max_header_bytes = *v;
  }
  if (auto v = r.duration("command_timeout")) {
    l.command_timeout = *v;
  }
  if (auto v = r.duration("data_timeout")) {
    l.data_timeout = *v;
  }
  r.finish();
}

// tls_verify, tls_name and ca_file: how the next hop's certificate is checked.
void loadRouteTls(RouteConfig& route, TomlReader& r, const std::filesystem::path& base) {
  const bool encrypted = route.tls != RouteTls::kNone;
  for (const char* key : {"tls_verify", "tls_name", "ca_file"}) {
    if (!encrypted && r.has(key)) {
      r.fail(key, "has no effect with tls = \"none\"");
    }
  }
  route.tls_verify = r.boolean("tls_verify").value_or(route.tls != RouteTls::kStartTls);
  if (auto name = r.string("tls_name")) {
    if (!isValidDomain(*name, false) && !net::IpAddress::parse(*name)) {
      r.fail("tls_name", "'" + *name + "' is not a host name or IP address");
    }
    route.tls_name = toLower(*name);
  }
  if (auto ca = r.string("ca_file")) {
    if (!route.tls_verify) {
      r.fail("ca_file", "certificates are not verified on this route (set tls_verify = true)");
    }
    route.ca_file = resolve(base, *ca);
    requirePemCertificates(r, "ca_file", route.ca_file);
  }
}

// username and password_file: AUTH at the smart host. The password is read here, so that
// `check` and `serve` refuse a file that is missing, unreadable or open to group or others.
void loadRouteCredentials(RouteConfig& route, TomlReader& r, const std::filesystem::path& base) {
  route.username = r.string("username").value_or("");
  if (auto pw = r.string("password_file")) {
    route.password_file = resolve(base, *pw);
  }
  if (route.username.empty() != route.password_file.empty()) {
    r.fail(route.username.empty() ? "password_file" : "username",
           "username and password_file go together");
  }
  if (route.username.empty()) {
    return;
  }
  if (!isPrintableAscii(route.username) || route.username.find(' ') != std::string::npos) {
    r.fail("username", "must be printable ASCII without spaces");
  }
  if (route.tls != RouteTls::kStartTlsRequired && route.tls != RouteTls::kTls) {
    r.fail("username",
           "credentials are only ever sent over TLS: set tls = \"starttls-required\" or \"tls\"");
  }
  route.password = readSecretFile(r, "password_file", route.password_file);
}

void loadRoutes(Config& cfg, TomlReader& top, const std::filesystem::path& base) {
  for (const toml::table* t : top.tableArray("route")) {
    TomlReader r(*t, cfg.file);
    RouteConfig route;
    route.where = r.position();
    route.index = cfg.routes.size();
    const auto domains = r.stringArray("domains");
    if (!domains || domains->empty()) {
      throw ConfigError(route.where, "route: 'domains' must list at least one domain or \"*\"");
    }
    for (std::size_t i = 0; i < domains->size(); ++i) {
      std::string d = toLower((*domains)[i]);
      const std::string_view bare = d.starts_with("*.")  ? std::string_view(d).substr(2)
                                    : d.starts_with(".") ? std::string_view(d).substr(1)
                                                         : std::string_view(d);
      if (d != "*" && !isValidDomain(bare, true)) {
        throw ConfigError(r.elementPosition("domains", i),
                          "domains: '" + (*domains)[i] + "' is not a domain, *.domain or *");
      }
      route.domains.push_back(std::move(d));
    }
    const auto hosts = r.stringArray("smart_hosts").value_or(std::vector<std::string>{});
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      route.smart_hosts.push_back(
          endpointAt(r, r.elementPosition("smart_hosts", i), hosts[i], "smart_hosts"));
    }
    const auto tls = r.choice("tls", {"none", "starttls", "starttls-required", "tls"});
    route.tls = !tls || *tls == "none"        ? RouteTls::kNone
                : *tls == "starttls"          ? RouteTls::kStartTls
                : *tls == "starttls-required" ? RouteTls::kStartTlsRequired
                                              : RouteTls::kTls;
    loadRouteTls(route, r, base);
    loadRouteCredentials(route, r, base);
    r.finish();
    cfg.routes.push_back(std::move(route));
  }
}

void loadDelivery(Config& cfg, TomlReader& top) {
  const toml::table* t = top.table("delivery");
  if (t == nullptr) {
    return;
  }
  TomlReader r(*t, cfg.file);
  auto& d = cfg.delivery;
  if (r.has("retry")) {
    d.retry = r.durationArray("retry");
    if (d.retry.empty()) {
      r.fail("retry", "needs at least one interval");
    }
    for (std::size_t i = 0; i < d.retry.size(); ++i) {
      if (d.retry[i].count() == 0) {
        throw ConfigError(r.elementPosition("retry", i), "retry: intervals must be positive");
      }
    }
  }
  if (auto v = r.duration("max_age")) {
    d.max_age = *v;
  }
  d.concurrency = sizeKey(r, "concurrency", d.concurrency, 1, 10000);
  d.per_destination = sizeKey(r, "per_destination", d.per_destination, 1, 10000);
  if (auto v = r.duration("connect_timeout")) {
    d.connect_timeout = *v;
  }
  if (auto v = r.duration("command_timeout")) {
    d.command_timeout = *v;
  }
  if (auto v = r.duration("idle_reuse")) {
    d.idle_reuse = *v;
  }
  d.mx_port = static_cast<std::uint16_t>(sizeKey(r, "mx_port", d.mx_port, 1, 65535));
  d.mx_max_hosts = sizeKey(r, "mx_max_hosts", d.mx_max_hosts, 1, 20);
  r.finish();
}

void loadDns(Config& cfg, TomlReader& top) {
  const toml::table* t = top.table("dns");
  if (t == nullptr) {
    return;
  }
  TomlReader r(*t, cfg.file);
  const auto servers = r.stringArray("servers").value_or(std::vector<std::string>{});
  for (std::size_t i = 0; i < servers.size(); ++i) {
    auto ep = net::Endpoint::parse(servers[i]);
    if (!ep || !net::IpAddress::parse(ep->host)) {
      throw ConfigError(r.elementPosition("servers", i),
                        "servers: '" + servers[i] + "' is not an IP:port");
    }
    cfg.dns.servers.push_back(*ep);
  }
  if (auto v = r.duration("timeout")) {
    if (v->count() < 1 || *v > std::chrono::minutes(2)) {
      r.fail("timeout", "must be between 1s and 2m");
    }
    cfg.dns.timeout = *v;
  }
  cfg.dns.attempts = sizeKey(r, "attempts", cfg.dns.attempts, 1, 5);
  r.finish();
}

void loadAudit(Config& cfg, TomlReader& top, const std::filesystem::path& base) {
  const toml::table* t = top.table("audit");
  if (t == nullptr) {
    return;
  }
  TomlReader r(*t, cfg.file);
  if (auto key = r.string("key_file")) {
    cfg.audit.key_file = resolve(base, *key);
  }
  if (auto v = r.size("max_file_size")) {
    if (*v < 4096) {
      r.fail("max_file_size", "must be at least 4K");
    }
    cfg.audit.max_file_size = *v;
  }
  if (auto v = r.duration("anchor_interval")) {
    if (v->count() == 0) {
      r.fail("anchor_interval", "must be positive");
    }
    cfg.audit.anchor_interval = *v;
  }
  r.finish();
}

void loadPickup(Config& cfg, TomlReader& top, const std::filesystem::path& base) {
  const toml::table* t = top.table("pickup");
  if (t == nullptr) {
    return;
  }
  TomlReader r(*t, cfg.file);
  PickupConfig pickup;
  pickup.directory = resolve(base, r.requiredString("directory"));
  pickup.badmail = resolve(
      base, r.string("badmail").value_or((pickup.directory.parent_path() / "badmail").string()));
  if (pickup.badmail == pickup.directory) {
    r.fail("badmail", "must not be the pickup directory itself");
  }
  if (auto v = r.duration("interval")) {
    if (v->count() == 0) {
      r.fail("interval", "must be at least 1s");
    }
    pickup.interval = *v;
  }
  r.finish();
  cfg.pickup = std::move(pickup);
}

bool isLoopback(const net::IpAddress& ip) {
  static const auto v4 = net::Cidr::parse("127.0.0.0/8");
  static const auto v6 = net::Cidr::parse("::1/128");
  return v4->contains(ip) || v6->contains(ip);
}

void loadAdmin(Config& cfg, TomlReader& top) {
  const toml::table* t = top.table("admin");
  if (t == nullptr) {
    return;
  }
  TomlReader r(*t, cfg.file);
  AdminConfig admin;
  if (auto address = r.string("address")) {
    admin.address = endpointAt(r, r.keyPosition("address"), *address, "address");
  }
  admin.allow_remote = r.boolean("allow_remote").value_or(false);
  const auto ip = net::IpAddress::parse(admin.address.host);
  if (!ip) {
    r.fail("address", "the admin listener binds to an IP address, not a name");
  }
  if (!isLoopback(*ip) && !admin.allow_remote) {
    r.fail("address", "'" + admin.address.toString() +
                          "' is not a loopback address; /metrics and /healthz have no "
                          "authentication, so set allow_remote = true to expose them on purpose");
  }
  r.finish();
  cfg.admin = admin;
}

void loadLog(Config& cfg, TomlReader& top) {
  const toml::table* t = top.table("log");
  if (t == nullptr) {
    return;
  }
  TomlReader r(*t, cfg.file);
  if (const auto format = r.choice("format", {"text", "json"})) {
    cfg.log.format = *format == "json" ? log::Format::kJson : log::Format::kText;
  }
  cfg.log.level =
      r.choice("level", {"trace", "debug", "info", "warn", "error"}).value_or(cfg.log.level);
  r.finish();
}

void loadTls(Config& cfg, TomlReader& top, const std::filesystem::path& base) {
  const toml::table* t = top.table("tls");
  if (t == nullptr) {
    return;
  }
  TomlReader r(*t, cfg.file);
  TlsConfig tls;
  tls.certificate = resolve(base, r.requiredString("certificate"));
  tls.private_key = resolve(base, r.requiredString("private_key"));
  r.finish();
  cfg.tls = tls;
}

void loadService(Config& cfg, TomlReader& top) {
  const toml::table* t = top.table("service");
  if (t == nullptr) {
    return;
  }
  TomlReader r(*t, cfg.file);
  if (auto user = r.string("user")) {
    if (user->empty()) {
      r.fail("user", "must name a user (or leave the key out)");
    }
    cfg.service.user = *user;
    cfg.service.where = r.keyPosition("user");
  }
  r.finish();
}

}  // namespace

bool AccessConfig::relayAllowed(const net::IpAddress& ip) const {
  return std::any_of(relay_networks.begin(), relay_networks.end(),
                     [&](const net::Cidr& c) { return c.contains(ip); });
}

bool RouteConfig::matches(std::string_view domain_lower) const {
  for (const auto& d : domains) {
    if (d == "*" || d == domain_lower) {
      return true;
    }
    std::string_view suffix;
    if (d.starts_with("*.")) {
      suffix = std::string_view(d).substr(1);
    } else if (d.starts_with(".")) {
      suffix = d;
    }
    if (!suffix.empty() && domain_lower.size() > suffix.size() && domain_lower.ends_with(suffix)) {
      return true;
    }
  }
  return false;
}

std::string RouteConfig::name() const {
  std::string out = "route#" + std::to_string(index + 1) + " (";
  for (std::size_t i = 0; i < domains.size(); ++i) {
    out += (i ? "," : "") + domains[i];
  }
  return out + ")";
}

std::chrono::seconds DeliveryConfig::retryDelay(std::size_t attempts) const {
  if (retry.empty()) {
    return std::chrono::seconds(300);
  }
  const std::size_t i = attempts == 0 ? 0 : std::min(attempts - 1, retry.size() - 1);
  return retry[i];
}

std::optional<std::string> AuditConfig::loadKey(const std::filesystem::path& spool_dir) const {
  if (key_file.empty()) {
    return std::nullopt;
  }
  const SourcePosition where{key_file};
  const auto spool = std::filesystem::weakly_canonical(spool_dir).string() + "/";
  if (std::filesystem::weakly_canonical(key_file).string().starts_with(spool)) {
    throw ConfigError(where, "the audit key must not live in the spool it authenticates");
  }
  struct stat st {};
  if (::stat(key_file.c_str(), &st) != 0) {
    throw ConfigError(where, "cannot read the audit key file");
  }
  if ((st.st_mode & 077) != 0) {
    throw ConfigError(where, "the audit key file is readable by group or others (chmod 600)");
  }
  std::string key;
  try {
    key = readFile(key_file);
  } catch (const IoError& e) {
    throw ConfigError(where, e.what());
  }
  if (!key.empty() && key.back() == '\n') {
    key.pop_back();
  }
  if (key.size() < 16) {
    throw ConfigError(where, "the audit key must be at least 16 bytes");
  }
  return key;
}

const RouteConfig* Config::routeFor(std::string_view domain) const {
  const std::string lower = toLower(domain);
  for (const auto& r : routes) {
    if (r.matches(lower)) {
      return &r;
    }
  }
  return nullptr;
}

Config Config::load(const std::filesystem::path& file) {
  const auto absolute = std::filesystem::absolute(file).lexically_normal();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(absolute, ec)) {
    throw ConfigError(SourcePosition{file}, "cannot read the config file (no such file)");
  }
  const toml::table root = parseTomlFile(file);
  const auto base = absolute.parent_path();
  Config cfg;
  cfg.file = file;
  TomlReader top(root, file);
  cfg.hostname = top.string("hostname").value_or(systemHostname());
  if (!isValidDomain(cfg.hostname, false)) {
    top.fail("hostname", "'" + cfg.hostname + "' is not a valid host name");
  }
  cfg.spool_dir = resolve(base, top.string("spool_dir").value_or("spool"));
  cfg.rules_dir = resolve(base, top.string("rules_dir").value_or("rules"));
  loadListeners(cfg, top);
  loadTls(cfg, top, base);
  loadAccess(cfg, top, base);
  loadLimits(cfg, top);
  loadRoutes(cfg, top, base);
  loadDelivery(cfg, top);
  loadDns(cfg, top);
  loadAudit(cfg, top, base);
  loadPickup(cfg, top, base);
  loadAdmin(cfg, top);
  loadLog(cfg, top);
  loadService(cfg, top);
  cfg.auth_ldap = loadAuthLdap(top, base);
  top.finish();

  for (const auto& l : cfg.listeners) {
    if (l.mode != ListenerMode::kRelay && !cfg.tls) {
      throw ConfigError(l.where, std::string(toString(l.mode)) +
                                     " listeners need a [tls] section: AUTH is offered only "
                                     "over TLS");
    }
    if (l.mode != ListenerMode::kRelay && cfg.access.users_file.empty() && !cfg.auth_ldap) {
      throw ConfigError(l.where, std::string(toString(l.mode)) +
                                     " listeners need access.users_file or [auth.ldap]: they "
                                     "require AUTH");
    }
  }
  return cfg;
}

std::string_view toString(ListenerMode m) {
  switch (m) {
    case ListenerMode::kRelay:
      return "relay";
    case ListenerMode::kSubmission:
      return "submission";
    case ListenerMode::kSmtps:
      return "smtps";
  }
  return "relay";
}

std::string_view toString(RouteTls t) {
  switch (t) {
    case RouteTls::kNone:
      return "none";
    case RouteTls::kStartTls:
      return "starttls";
    case RouteTls::kStartTlsRequired:
      return "starttls-required";
    case RouteTls::kTls:
      return "tls";
  }
  return "none";
}

}  // namespace relayguard
