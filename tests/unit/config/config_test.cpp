// config_test: loading relayguard.toml: every field of a full file, the defaults, errors with
// their exact file:line:col, relative path resolution, route matching and the retry schedule.
#include "core/config/config.hpp"

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "core/message/address.hpp"
#include "tests/support/temp_dir.hpp"

namespace relayguard {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr std::string_view kFullConfig = R"(# a complete configuration
hostname = "mx.example.com"
spool_dir = "var/spool"
rules_dir = "/etc/relayguard/rules"

[[listener]]
address = "127.0.0.1:2525"
mode = "relay"

[[listener]]
address = "[::1]:587"
mode = "submission"

[[listener]]
address = "0.0.0.0:465"
mode = "smtps"

[[listener]]
address = "192.0.2.1:25"

[tls]
certificate = "certs/server.pem"
private_key = "/etc/ssl/private/key.pem"

[access]
relay_networks = ["127.0.0.0/8", "10.0.0.0/20", "::1/128", "192.0.2.7"]
users_file = "users.txt"
auth_failures_before_delay = 5
auth_failure_delay = "2s"
auth_lockout_failures = 20
auth_lockout = "1h"
user_messages_per_minute = 30

[limits]
max_message_size = "10M"
max_recipients = 50
max_connections = 200
max_connections_per_ip = 5
max_command_line = 1024
max_text_line = 2000
max_errors = 3
command_timeout = "2m"
data_timeout = 900

[[route]]
domains = ["example.org", "*.Example.NET"]
smart_hosts = ["smtp.example.org:587", "[2001:db8::25]:25"]
tls = "starttls-required"
username = "relay"
password_file = "secrets/relay.pw"

[[route]]
domains = ["*"]
tls = "tls"

[delivery]
retry = ["30s", "2m", "1h"]
max_age = "3d"
concurrency = 20
per_destination = 4
connect_timeout = "15s"
command_timeout = "4m"
idle_reuse = 5

[dns]
servers = ["127.0.0.53:53", "[::1]:5353"]
)";

class ConfigTest : public ::testing::Test {
 protected:
  fs::path write(std::string_view toml) { return dir_.write("relayguard.toml", toml); }

  // Loads `toml` and returns the ConfigError text ("" if it loaded).
  std::string loadError(std::string_view toml) {
    const auto file = write(toml);
    try {
      Config::load(file);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }

  // Expects the error to be exactly at line:col of the file and to mention `what`.
  void expectError(std::string_view toml, unsigned line, unsigned col, std::string_view what) {
    const std::string error = loadError(toml);
    const std::string prefix = (dir_.path() / "relayguard.toml").string() + ":" +
                               std::to_string(line) + ":" + std::to_string(col) + ": ";
    EXPECT_TRUE(error.starts_with(prefix)) << "error: " << error << "\nexpected prefix: " << prefix;
    EXPECT_NE(error.find(what), std::string::npos) << "error: " << error << "\nexpected: " << what;
  }

  test::TempDir dir_;
};

net::IpAddress ip(std::string_view text) {
  auto a = net::IpAddress::parse(text);
  if (!a) {
    ADD_FAILURE() << "bad test address " << text;
    return net::IpAddress::v4({0, 0, 0, 0});
  }
  return *a;
}

TEST_F(ConfigTest, LoadsEveryFieldOfAFullConfig) {
  const auto file = write(kFullConfig);
  fs::permissions(dir_.write("secrets/relay.pw", "pw\n"), fs::perms::owner_read);
  const Config cfg = Config::load(file);
  const fs::path base = dir_.path();

  EXPECT_EQ(cfg.file, file);
  EXPECT_EQ(cfg.hostname, "mx.example.com");
  EXPECT_EQ(cfg.spool_dir, base / "var" / "spool");
  EXPECT_EQ(cfg.rules_dir, fs::path("/etc/relayguard/rules"));

  ASSERT_EQ(cfg.listeners.size(), 4U);
  EXPECT_EQ(cfg.listeners[0].address, (net::Endpoint{"127.0.0.1", 2525}));
  EXPECT_EQ(cfg.listeners[0].mode, ListenerMode::kRelay);
  EXPECT_EQ(cfg.listeners[0].where.line, 6U);
  EXPECT_EQ(cfg.listeners[1].address, (net::Endpoint{"::1", 587}));
  EXPECT_EQ(cfg.listeners[1].mode, ListenerMode::kSubmission);
  EXPECT_EQ(cfg.listeners[2].address, (net::Endpoint{"0.0.0.0", 465}));
  EXPECT_EQ(cfg.listeners[2].mode, ListenerMode::kSmtps);
  EXPECT_EQ(cfg.listeners[3].address, (net::Endpoint{"192.0.2.1", 25}));
  EXPECT_EQ(cfg.listeners[3].mode, ListenerMode::kRelay);

  ASSERT_TRUE(cfg.tls.has_value());
  EXPECT_EQ(cfg.tls->certificate, base / "certs" / "server.pem");
  EXPECT_EQ(cfg.tls->private_key, fs::path("/etc/ssl/private/key.pem"));

  ASSERT_EQ(cfg.access.relay_networks.size(), 4U);
  EXPECT_EQ(cfg.access.relay_networks[0].toString(), "127.0.0.0/8");
  EXPECT_EQ(cfg.access.relay_networks[1].toString(), "10.0.0.0/20");
  EXPECT_EQ(cfg.access.relay_networks[2].toString(), "::1/128");
  EXPECT_EQ(cfg.access.relay_networks[3].toString(), "192.0.2.7/32");
  EXPECT_EQ(cfg.access.users_file, base / "users.txt");
  EXPECT_EQ(cfg.access.auth_failures_before_delay, 5U);
  EXPECT_EQ(cfg.access.auth_failure_delay, std::chrono::milliseconds(2000));
  EXPECT_EQ(cfg.access.auth_lockout_failures, 20U);
  EXPECT_EQ(cfg.access.auth_lockout, hours(1));
  EXPECT_EQ(cfg.access.user_messages_per_minute, 30U);
  EXPECT_TRUE(cfg.access.relayAllowed(ip("127.0.0.1")));
  EXPECT_TRUE(cfg.access.relayAllowed(ip("::ffff:127.1.2.3")));
  EXPECT_TRUE(cfg.access.relayAllowed(ip("10.0.15.255")));
  EXPECT_FALSE(cfg.access.relayAllowed(ip("10.0.16.0")));
  EXPECT_TRUE(cfg.access.relayAllowed(ip("::1")));
  EXPECT_TRUE(cfg.access.relayAllowed(ip("192.0.2.7")));
  EXPECT_FALSE(cfg.access.relayAllowed(ip("192.0.2.8")));
  EXPECT_FALSE(cfg.access.relayAllowed(ip("2001:db8::1")));

  EXPECT_EQ(cfg.limits.max_message_size, 10U * 1024 * 1024);
  EXPECT_EQ(cfg.limits.max_recipients, 50U);
  EXPECT_EQ(cfg.limits.max_connections, 200U);
  EXPECT_EQ(cfg.limits.max_connections_per_ip, 5U);
  EXPECT_EQ(cfg.limits.max_command_line, 1024U);
  EXPECT_EQ(cfg.limits.max_text_line, 2000U);
  EXPECT_EQ(cfg.limits.max_errors, 3U);
  EXPECT_EQ(cfg.limits.command_timeout, minutes(2));
  EXPECT_EQ(cfg.limits.data_timeout, seconds(900));

  ASSERT_EQ(cfg.routes.size(), 2U);
  const auto& r0 = cfg.routes[0];
  EXPECT_EQ(r0.domains, (std::vector<std::string>{"example.org", "*.example.net"}));
  ASSERT_EQ(r0.smart_hosts.size(), 2U);
  EXPECT_EQ(r0.smart_hosts[0], (net::Endpoint{"smtp.example.org", 587}));
  EXPECT_EQ(r0.smart_hosts[1], (net::Endpoint{"2001:db8::25", 25}));
  EXPECT_EQ(r0.tls, RouteTls::kStartTlsRequired);
  EXPECT_EQ(r0.username, "relay");
  EXPECT_EQ(r0.password_file, base / "secrets" / "relay.pw");
  EXPECT_EQ(r0.password, "pw");
  EXPECT_TRUE(r0.tls_verify);
  EXPECT_TRUE(r0.tls_name.empty());
  EXPECT_TRUE(r0.ca_file.empty());
  EXPECT_EQ(r0.index, 0U);
  EXPECT_EQ(r0.where.line, 45U);
  EXPECT_EQ(r0.name(), "route#1 (example.org,*.example.net)");
  const auto& r1 = cfg.routes[1];
  EXPECT_EQ(r1.domains, (std::vector<std::string>{"*"}));
  EXPECT_TRUE(r1.smart_hosts.empty());
  EXPECT_EQ(r1.tls, RouteTls::kTls);
  EXPECT_EQ(r1.username, "");
  EXPECT_TRUE(r1.password_file.empty());
  EXPECT_EQ(r1.index, 1U);
  EXPECT_EQ(r1.name(), "route#2 (*)");

  EXPECT_EQ(cfg.delivery.retry, (std::vector<seconds>{seconds(30), minutes(2), hours(1)}));
  EXPECT_EQ(cfg.delivery.max_age, hours(72));
  EXPECT_EQ(cfg.delivery.concurrency, 20U);
  EXPECT_EQ(cfg.delivery.per_destination, 4U);
  EXPECT_EQ(cfg.delivery.connect_timeout, seconds(15));
  EXPECT_EQ(cfg.delivery.command_timeout, minutes(4));
  EXPECT_EQ(cfg.delivery.idle_reuse, seconds(5));

  ASSERT_EQ(cfg.dns.servers.size(), 2U);
  EXPECT_EQ(cfg.dns.servers[0], (net::Endpoint{"127.0.0.53", 53}));
  EXPECT_EQ(cfg.dns.servers[1], (net::Endpoint{"::1", 5353}));
}

TEST_F(ConfigTest, Defaults) {
  const Config cfg = Config::load(write("hostname = \"mx.example\"\n"));
  EXPECT_EQ(cfg.hostname, "mx.example");
  EXPECT_EQ(cfg.spool_dir, dir_.path() / "spool");
  EXPECT_EQ(cfg.rules_dir, dir_.path() / "rules");
  EXPECT_TRUE(cfg.listeners.empty());
  EXPECT_FALSE(cfg.tls.has_value());
  EXPECT_TRUE(cfg.access.relay_networks.empty());
  EXPECT_TRUE(cfg.access.users_file.empty());
  EXPECT_EQ(cfg.access.auth_failures_before_delay, 3U);
  EXPECT_EQ(cfg.access.auth_failure_delay, std::chrono::milliseconds(1000));
  EXPECT_EQ(cfg.access.auth_lockout_failures, 10U);
  EXPECT_EQ(cfg.access.auth_lockout, minutes(15));
  EXPECT_EQ(cfg.access.user_messages_per_minute, 0U);
  EXPECT_FALSE(cfg.access.relayAllowed(ip("127.0.0.1")));

  EXPECT_EQ(cfg.limits.max_message_size, 25U * 1024 * 1024);
  EXPECT_EQ(cfg.limits.max_recipients, 100U);
  EXPECT_EQ(cfg.limits.max_connections, 1000U);
  EXPECT_EQ(cfg.limits.max_connections_per_ip, 20U);
  EXPECT_EQ(cfg.limits.max_command_line, 512U);
  EXPECT_EQ(cfg.limits.max_text_line, 1000U);
  EXPECT_EQ(cfg.limits.max_errors, 10U);
  EXPECT_EQ(cfg.limits.command_timeout, minutes(5));
  EXPECT_EQ(cfg.limits.data_timeout, minutes(10));

  EXPECT_TRUE(cfg.routes.empty());
  EXPECT_EQ(cfg.routeFor("example.com"), nullptr);

  EXPECT_EQ(cfg.delivery.retry,
            (std::vector<seconds>{minutes(1), minutes(5), minutes(15), hours(1), hours(4)}));
  EXPECT_EQ(cfg.delivery.max_age, hours(24 * 5));
  EXPECT_EQ(cfg.delivery.concurrency, 50U);
  EXPECT_EQ(cfg.delivery.per_destination, 20U);
  EXPECT_EQ(cfg.delivery.connect_timeout, seconds(30));
  EXPECT_EQ(cfg.delivery.command_timeout, minutes(5));
  EXPECT_EQ(cfg.delivery.idle_reuse, seconds(10));
  EXPECT_TRUE(cfg.dns.servers.empty());
}

TEST_F(ConfigTest, EmptySectionsKeepDefaults) {
  const Config cfg =
      Config::load(write("hostname = \"mx.example\"\n[limits]\n[delivery]\n[access]\n[dns]\n"));
  EXPECT_EQ(cfg.limits.max_recipients, 100U);
  EXPECT_EQ(cfg.delivery.retry.size(), 5U);
  EXPECT_TRUE(cfg.access.relay_networks.empty());
}

TEST_F(ConfigTest, HostnameDefaultsToTheSystemName) {
  char buf[256] = {};
  ASSERT_EQ(::gethostname(buf, sizeof buf - 1), 0);
  const std::string system = buf[0] != 0 ? buf : "localhost";
  if (!isValidDomain(system, false)) {
    GTEST_SKIP() << "this machine's name '" << system << "' is not a valid host name";
  }
  EXPECT_EQ(Config::load(write("")).hostname, system);
}

TEST_F(ConfigTest, SizesAndDurationsAcceptIntegers) {
  const Config cfg = Config::load(
      write("hostname = \"h.example\"\n[limits]\nmax_message_size = 2048\ncommand_timeout = 45\n"
            "[delivery]\nmax_age = 86400\n"));
  EXPECT_EQ(cfg.limits.max_message_size, 2048U);
  EXPECT_EQ(cfg.limits.command_timeout, seconds(45));
  EXPECT_EQ(cfg.delivery.max_age, hours(24));
}

TEST_F(ConfigTest, RetryScheduleAcceptsIntegerSeconds) {
  const Config cfg =
      Config::load(write("hostname = \"h.example\"\n[delivery]\nretry = [60, \"5m\", 7200]\n"));
  EXPECT_EQ(cfg.delivery.retry, (std::vector<seconds>{minutes(1), minutes(5), hours(2)}));
  expectError("hostname = \"h.example\"\n[delivery]\nretry = [60, -5]\n", 3, 14,
              "retry: expected a duration such as 5m");
}

TEST_F(ConfigTest, RelativePathsResolveAgainstTheConfigFolder) {
  const auto file =
      dir_.write("etc/relayguard/relayguard.toml",
                 "hostname = \"h.example\"\nspool_dir = \"../../var/spool\"\n"
                 "rules_dir = \"./rules\"\n[access]\nusers_file = \"/abs/users\"\n"
                 "[tls]\ncertificate = \"tls/cert.pem\"\nprivate_key = \"key.pem\"\n");
  const Config cfg = Config::load(file);
  const auto conf_dir = dir_.path() / "etc" / "relayguard";
  EXPECT_EQ(cfg.spool_dir, dir_.path() / "var" / "spool");
  EXPECT_EQ(cfg.rules_dir, conf_dir / "rules");
  EXPECT_EQ(cfg.access.users_file, fs::path("/abs/users"));
  ASSERT_TRUE(cfg.tls.has_value());
  EXPECT_EQ(cfg.tls->certificate, conf_dir / "tls" / "cert.pem");
  EXPECT_EQ(cfg.tls->private_key, conf_dir / "key.pem");
  EXPECT_TRUE(cfg.spool_dir.is_absolute());
}

// Restores the working directory when the test ends.
class ScopedCwd {
 public:
  explicit ScopedCwd(const fs::path& to) : saved_(fs::current_path()) { fs::current_path(to); }
  ScopedCwd(const ScopedCwd&) = delete;
  ScopedCwd& operator=(const ScopedCwd&) = delete;
  ~ScopedCwd() {
    std::error_code ec;
    fs::current_path(saved_, ec);
  }

 private:
  fs::path saved_;
};

TEST_F(ConfigTest, RelativeConfigFileNameResolvesToAbsolutePaths) {
  dir_.write("conf/relayguard.toml", "hostname = \"h.example\"\nspool_dir = \"q\"\n");
  const ScopedCwd cwd(dir_.path());
  const Config cfg = Config::load("conf/relayguard.toml");
  EXPECT_EQ(cfg.file, fs::path("conf/relayguard.toml"));
  EXPECT_EQ(cfg.spool_dir, fs::current_path() / "conf" / "q");
  EXPECT_TRUE(cfg.spool_dir.is_absolute());
}

TEST_F(ConfigTest, MissingFile) {
  const auto file = dir_.path() / "nope.toml";
  try {
    Config::load(file);
    FAIL() << "loaded a missing file";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              file.string() + ": cannot read the config file (no such file)");
  }
}

TEST_F(ConfigTest, UnknownTopLevelKey) {
  expectError("hostname = \"h.example\"\nspool_dri = \"x\"\n", 2, 1, "unknown key 'spool_dri'");
}

TEST_F(ConfigTest, UnknownKeyInLimits) {
  expectError("hostname = \"h.example\"\n[limits]\nmax_recipients = 5\n  max_recipient = 5\n", 4, 3,
              "unknown key 'max_recipient'");
}

TEST_F(ConfigTest, UnknownKeyInListenerAndRoute) {
  expectError("[[listener]]\naddress = \"127.0.0.1:25\"\nmod = \"relay\"\n", 3, 1,
              "unknown key 'mod'");
  expectError("[[route]]\ndomains = [\"*\"]\n\nsmarthosts = [\"a:25\"]\n", 4, 1,
              "unknown key 'smarthosts'");
}

TEST_F(ConfigTest, WrongTypes) {
  expectError("hostname = 5\n", 1, 12, "hostname: expected a string");
  expectError("hostname = \"h.example\"\n[limits]\nmax_recipients = \"ten\"\n", 3, 18,
              "max_recipients: expected an integer");
  expectError("hostname = \"h.example\"\nlimits = 5\n", 2, 10, "limits: expected a table");
  expectError("hostname = \"h.example\"\n[route]\ndomains = [\"*\"]\n", 2, 1,
              "route: expected an array of tables [[route]]");
  expectError("hostname = \"h.example\"\n[access]\nrelay_networks = \"10.0.0.0/8\"\n", 3, 18,
              "relay_networks: expected an array of strings");
  expectError("hostname = \"h.example\"\n[access]\nrelay_networks = [\"10.0.0.0/8\", 7]\n", 3, 33,
              "relay_networks: expected a string");
}

TEST_F(ConfigTest, OutOfRangeIntegers) {
  expectError("hostname = \"h.example\"\n[limits]\nmax_recipients = 0\n", 3, 18,
              "max_recipients: must be between 1 and 100000");
  expectError("hostname = \"h.example\"\n[limits]\nmax_command_line = 100\n", 3, 20,
              "max_command_line: must be between 512 and 65536");
  expectError("hostname = \"h.example\"\n[limits]\nmax_message_size = 100\n", 3, 20,
              "max_message_size: must be at least 1K");
}

TEST_F(ConfigTest, BadCidrPointsAtTheElement) {
  expectError(
      "hostname = \"h.example\"\n[access]\n"
      "relay_networks = [\"127.0.0.0/8\",  \"10.0.0.0/33\"]\n",
      3, 35, "relay_networks: '10.0.0.0/33' is not a network");
  expectError(
      "hostname = \"h.example\"\n[access]\nrelay_networks = [\n  \"::1\",\n"
      "  \"example.com/8\",\n]\n",
      5, 3, "'example.com/8'");
}

TEST_F(ConfigTest, BadListenerAddress) {
  expectError("hostname = \"h.example\"\n\n[[listener]]\naddress = \"127.0.0.1\"\n", 4, 11,
              "address: '127.0.0.1' is not an address:port");
  expectError("hostname = \"h.example\"\n[[listener]]\naddress = \"mail.example:25\"\n", 3, 11,
              "address: listeners bind to an IP address, not a name");
  expectError("hostname = \"h.example\"\n[[listener]]\naddress = \"::1:25\"\n", 3, 11,
              "is not an address:port (IPv6 as [addr]:port)");
  expectError("hostname = \"h.example\"\n[[listener]]\naddress = \"127.0.0.1:0\"\n", 3, 11,
              "is not an address:port");
  expectError("hostname = \"h.example\"\n[[listener]]\nmode = \"relay\"\n", 2, 1,
              "missing required key 'address'");
}

TEST_F(ConfigTest, ProxyProtocolListener) {
  const auto file = write(
      "hostname = \"h.example\"\n[[listener]]\naddress = \"0.0.0.0:25\"\nproxy_protocol = true\n"
      "proxy_from = [\"10.0.0.0/8\", \"2001:db8::5\"]\n[[listener]]\naddress = \"127.0.0.1:26\"\n");
  const Config c = Config::load(file);
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_TRUE(c.listeners[0].proxy_protocol);
  ASSERT_EQ(c.listeners[0].proxy_from.size(), 2u);
  EXPECT_TRUE(c.listeners[0].proxy_from[0].contains(ip("10.1.2.3")));
  EXPECT_TRUE(c.listeners[0].proxy_from[1].contains(ip("2001:db8::5")));
  EXPECT_FALSE(c.listeners[1].proxy_protocol);
  EXPECT_TRUE(c.listeners[1].proxy_from.empty());
}

TEST_F(ConfigTest, ProxyProtocolNeedsProxyFrom) {
  expectError(
      "hostname = \"h.example\"\n[[listener]]\naddress = \"127.0.0.1:25\"\n"
      "proxy_protocol = true\n",
      4, 18, "proxy_protocol = true needs proxy_from");
  expectError(
      "hostname = \"h.example\"\n[[listener]]\naddress = \"127.0.0.1:25\"\n"
      "proxy_protocol = true\nproxy_from = []\n",
      4, 18, "proxy_protocol = true needs proxy_from");
  expectError(
      "hostname = \"h.example\"\n[[listener]]\naddress = \"127.0.0.1:25\"\n"
      "proxy_from = [\"10.0.0.1\"]\n",
      4, 14, "proxy_from applies only with proxy_protocol = true");
  expectError(
      "hostname = \"h.example\"\n[[listener]]\naddress = \"127.0.0.1:25\"\n"
      "proxy_protocol = true\nproxy_from = [\"10.0.0.1\", \"lb.example\"]\n",
      5, 27, "proxy_from: 'lb.example' is not a network");
  expectError(
      "hostname = \"h.example\"\n[[listener]]\naddress = \"127.0.0.1:25\"\n"
      "proxy_protocol = \"yes\"\n",
      4, 18, "proxy_protocol: expected true or false");
}

TEST_F(ConfigTest, ServiceUser) {
  EXPECT_EQ(Config::load(write("hostname = \"h.example\"\n")).service.user, "");
  const Config c =
      Config::load(write("hostname = \"h.example\"\n[service]\nuser = \"relayguard\"\n"));
  EXPECT_EQ(c.service.user, "relayguard");
  EXPECT_EQ(c.service.where.line, 3u);
  expectError("hostname = \"h.example\"\n[service]\nuser = \"\"\n", 3, 8, "user: must name a user");
  expectError("hostname = \"h.example\"\n[service]\nuser = \"x\"\ngroup = \"y\"\n", 4, 1,
              "unknown key 'group'");
}

TEST_F(ConfigTest, BadListenerMode) {
  expectError(
      "hostname = \"h.example\"\n[[listener]]\naddress = \"127.0.0.1:25\"\nmode = \"fast\"\n", 4, 8,
      "mode: 'fast' is not one of relay | submission | smtps");
}

TEST_F(ConfigTest, SubmissionListenerNeedsTls) {
  expectError(
      "hostname = \"h.example\"\n\n[[listener]]\naddress = \"127.0.0.1:25\"\n\n"
      "  [[listener]]\naddress = \"127.0.0.1:587\"\nmode = \"submission\"\n",
      6, 3, "submission listeners need a [tls] section");
  expectError(
      "hostname = \"h.example\"\n[[listener]]\naddress = \"127.0.0.1:465\"\nmode = \"smtps\"\n", 2,
      1, "smtps listeners need a [tls] section");
  expectError(
      "hostname = \"h.example\"\n[[listener]]\naddress = \"127.0.0.1:587\"\nmode = \"submission\"\n"
      "[tls]\ncertificate = \"c.pem\"\nprivate_key = \"k.pem\"\n",
      2, 1, "submission listeners need access.users_file or [auth.ldap]: they require AUTH");
  const auto ok = Config::load(write(
      "hostname = \"h.example\"\n[[listener]]\naddress = \"127.0.0.1:587\"\nmode = \"submission\"\n"
      "[tls]\ncertificate = \"c.pem\"\nprivate_key = \"k.pem\"\n[access]\nusers_file = \"u\"\n"));
  ASSERT_EQ(ok.listeners.size(), 1U);
  EXPECT_EQ(ok.listeners[0].mode, ListenerMode::kSubmission);
}

TEST_F(ConfigTest, TlsNeedsBothFiles) {
  expectError("hostname = \"h.example\"\n[tls]\ncertificate = \"c.pem\"\n", 2, 1,
              "missing required key 'private_key'");
}

TEST_F(ConfigTest, BadSizeAndDurationStrings) {
  expectError("hostname = \"h.example\"\n[limits]\nmax_message_size = \"10X\"\n", 3, 20,
              "max_message_size: expected a size such as 25M");
  expectError("hostname = \"h.example\"\n[limits]\nmax_message_size = -1\n", 3, 20,
              "max_message_size: expected a size");
  expectError("hostname = \"h.example\"\n[limits]\ncommand_timeout = \"5 minutes\"\n", 3, 19,
              "command_timeout: expected a duration such as 30s");
  expectError("hostname = \"h.example\"\n[delivery]\nmax_age = 1.5\n", 3, 11,
              "max_age: expected a duration");
  expectError("hostname = \"h.example\"\n[delivery]\nretry = [\"1m\", \"soon\"]\n", 3, 16,
              "retry: expected a duration such as 5m");
  expectError("hostname = \"h.example\"\n[delivery]\nretry = []\n", 3, 9,
              "retry: needs at least one interval");
  expectError("hostname = \"h.example\"\n[delivery]\nretry = [\"5m\", \"0s\"]\n", 3, 16,
              "retry: intervals must be positive");
}

TEST_F(ConfigTest, RouteWithoutDomains) {
  expectError("hostname = \"h.example\"\n\n[[route]]\nsmart_hosts = [\"a.example:25\"]\n", 3, 1,
              "route: 'domains' must list at least one domain or \"*\"");
  expectError("hostname = \"h.example\"\n[[route]]\ndomains = []\n", 2, 1,
              "route: 'domains' must list at least one domain");
}

TEST_F(ConfigTest, BadRouteFields) {
  expectError("hostname = \"h.example\"\n[[route]]\ndomains = [\"example.com\", \"bad domain\"]\n",
              3, 27, "domains: 'bad domain' is not a domain, *.domain or *");
  expectError(
      "hostname = \"h.example\"\n[[route]]\ndomains = [\"*\"]\n"
      "smart_hosts = [\"a.example:25\", \"b.example\"]\n",
      4, 32, "smart_hosts: 'b.example' is not an address:port");
  expectError("hostname = \"h.example\"\n[[route]]\ndomains = [\"*\"]\ntls = \"maybe\"\n", 4, 7,
              "tls: 'maybe' is not one of none | starttls | starttls-required | tls");
  expectError("hostname = \"h.example\"\n[[route]]\ndomains = [\"*\"]\nusername = \"u\"\n", 4, 12,
              "username: username and password_file go together");
}

// A route towards a TLS smart host: `extra` lines are added to the [[route]] table, which
// starts on line 2, so its keys are on line 5 and below.
std::string tlsRoute(std::string_view tls, std::string_view extra) {
  return "hostname = \"h.example\"\n[[route]]\ndomains = [\"*\"]\n"
         "smart_hosts = [\"smtp.example.org:587\"]\ntls = \"" +
         std::string(tls) + "\"\n" + std::string(extra);
}

TEST_F(ConfigTest, RouteTlsVerificationDefaults) {
  const Config cfg = Config::load(
      write(tlsRoute("starttls", "") + "[[route]]\ndomains = [\"a.example\"]\ntls = \"tls\"\n" +
            "[[route]]\ndomains = [\"b.example\"]\ntls = \"starttls-required\"\n" +
            "tls_verify = false\n[[route]]\ndomains = [\"c.example\"]\ntls = \"starttls\"\n" +
            "tls_verify = true\ntls_name = \"MX.Example.org\"\n"));
  ASSERT_EQ(cfg.routes.size(), 4U);
  EXPECT_FALSE(cfg.routes[0].tls_verify);  // opportunistic: encrypt, do not verify
  EXPECT_TRUE(cfg.routes[1].tls_verify);   // implicit TLS verifies
  EXPECT_FALSE(cfg.routes[2].tls_verify);  // turned off explicitly
  EXPECT_TRUE(cfg.routes[3].tls_verify);
  EXPECT_EQ(cfg.routes[3].tls_name, "mx.example.org");
}

TEST_F(ConfigTest, RouteCaFileIsLoadedAndChecked) {
  const std::string pem =
      "-----BEGIN CERTIFICATE-----\n"
      "MIIBfTCCASOgAwIBAgIUKIu9p1zO7B7mJ3r6dCzbf3oKk1QwCgYIKoZIzj0EAwIw\n"
      "-----END CERTIFICATE-----\n";
  dir_.write("certs/not-a-cert.pem", pem);
  expectError(tlsRoute("tls", "ca_file = \"certs/not-a-cert.pem\"\n"), 6, 11,
              "holds no PEM certificate");
  expectError(tlsRoute("tls", "ca_file = \"certs/missing.pem\"\n"), 6, 11, "ca_file: ");
  expectError(tlsRoute("starttls", "ca_file = \"certs/not-a-cert.pem\"\n"), 6, 11,
              "ca_file: certificates are not verified on this route");
  expectError(tlsRoute("none", "tls_verify = true\n"), 6, 14,
              "tls_verify: has no effect with tls = \"none\"");
  expectError(tlsRoute("tls", "tls_name = \"not a name\"\n"), 6, 12,
              "tls_name: 'not a name' is not a host name or IP address");
}

TEST_F(ConfigTest, RoutePasswordFileIsReadAtLoadTime) {
  const auto pw = dir_.write("secrets/pw", "line one\r\n");
  fs::permissions(pw, fs::perms::owner_read | fs::perms::owner_write);
  const Config cfg = Config::load(write(
      tlsRoute("starttls-required", "username = \"relay\"\npassword_file = \"secrets/pw\"\n")));
  EXPECT_EQ(cfg.routes[0].password, "line one");
  EXPECT_EQ(cfg.routes[0].password_file, dir_.path() / "secrets" / "pw");
}

TEST_F(ConfigTest, RoutePasswordFileErrors) {
  const std::string creds = "username = \"relay\"\npassword_file = \"secrets/pw\"\n";
  // Missing.
  expectError(tlsRoute("tls", creds), 7, 17, "password_file: cannot read");
  // Readable by group or others.
  const auto pw = dir_.write("secrets/pw", "hunter2-secret\n");
  fs::permissions(pw, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  expectError(tlsRoute("tls", creds), 7, 17, "accessible by group or others (chmod 600 it)");
  fs::permissions(pw, fs::perms::owner_read | fs::perms::others_read);
  expectError(tlsRoute("tls", creds), 7, 17, "accessible by group or others");
  // Two lines: refused, and the error does not show the content.
  fs::permissions(pw, fs::perms::owner_read);
  dir_.write("secrets/pw", "hunter2-secret\nsecond\n");
  expectError(tlsRoute("tls", creds), 7, 17, "must hold one line");
  EXPECT_EQ(loadError(tlsRoute("tls", creds)).find("hunter2"), std::string::npos);
  dir_.write("secrets/pw", "\n");
  expectError(tlsRoute("tls", creds), 7, 17, "is empty");
  // Credentials only ever go over required TLS.
  dir_.write("secrets/pw", "hunter2-secret\n");
  expectError(tlsRoute("starttls", creds), 6, 12,
              "username: credentials are only ever sent over TLS");
  expectError(tlsRoute("none", creds), 6, 12, "credentials are only ever sent over TLS");
  expectError(tlsRoute("tls", "password_file = \"secrets/pw\"\n"), 6, 17,
              "password_file: username and password_file go together");
  expectError(tlsRoute("tls", "username = \"a b\"\npassword_file = \"secrets/pw\"\n"), 6, 12,
              "username: must be printable ASCII without spaces");
}

TEST_F(ConfigTest, BadDnsServer) {
  expectError("hostname = \"h.example\"\n[dns]\nservers = [\"dns.example:53\"]\n", 3, 12,
              "servers: 'dns.example:53' is not an IP:port");
}

TEST_F(ConfigTest, DnsTimeoutsAndMxDeliveryKeys) {
  Config cfg = Config::load(write("hostname = \"h.example\"\n"));
  EXPECT_EQ(cfg.delivery.mx_port, 25);
  EXPECT_EQ(cfg.delivery.mx_max_hosts, 5U);
  EXPECT_EQ(cfg.dns.timeout, std::chrono::seconds(5));
  EXPECT_EQ(cfg.dns.attempts, 2U);
  cfg =
      Config::load(write("hostname = \"h.example\"\n[delivery]\nmx_port = 2525\n"
                         "mx_max_hosts = 3\n[dns]\ntimeout = \"2s\"\nattempts = 3\n"));
  EXPECT_EQ(cfg.delivery.mx_port, 2525);
  EXPECT_EQ(cfg.delivery.mx_max_hosts, 3U);
  EXPECT_EQ(cfg.dns.timeout, std::chrono::seconds(2));
  EXPECT_EQ(cfg.dns.attempts, 3U);
  EXPECT_NE(loadError("hostname = \"h.example\"\n[dns]\ntimeout = \"0s\"\n")
                .find("must be between 1s and 2m"),
            std::string::npos);
  EXPECT_NE(loadError("hostname = \"h.example\"\n[dns]\nattempts = 9\n").find("attempts"),
            std::string::npos);
  EXPECT_NE(loadError("hostname = \"h.example\"\n[delivery]\nmx_port = 0\n").find("mx_port"),
            std::string::npos);
}

TEST_F(ConfigTest, BadHostname) {
  expectError("hostname = \"not a host\"\n", 1, 12,
              "hostname: 'not a host' is not a valid host name");
}

TEST_F(ConfigTest, TomlSyntaxError) {
  expectError("hostname = \"h.example\"\n[limits]\nmax_recipients = = 5\n", 3, 18,
              "Error while parsing value");
  expectError("hostname = \"h.example\"\nhostname = \"again\"\n", 2, 12,
              "cannot redefine existing string 'hostname'");
}

// A route built by hand, as the loader leaves it: domains already in lower case.
RouteConfig route(std::vector<std::string> domains) {
  RouteConfig r;
  r.domains = std::move(domains);
  return r;
}

TEST(RouteConfig, StarMatchesEverything) {
  const auto r = route({"*"});
  EXPECT_TRUE(r.matches("example.com"));
  EXPECT_TRUE(r.matches("a.b.c"));
  EXPECT_TRUE(r.matches("[192.0.2.1]"));
}

TEST(RouteConfig, ExactDomain) {
  const auto r = route({"example.com"});
  EXPECT_TRUE(r.matches("example.com"));
  EXPECT_FALSE(r.matches("sub.example.com"));
  EXPECT_FALSE(r.matches("example.co"));
  EXPECT_FALSE(r.matches("xexample.com"));
  EXPECT_FALSE(r.matches("example.com.evil"));
}

TEST(RouteConfig, WildcardMatchesSubdomainsButNotTheApex) {
  const auto r = route({"*.example.com"});
  EXPECT_TRUE(r.matches("a.example.com"));
  EXPECT_TRUE(r.matches("deep.sub.example.com"));
  EXPECT_FALSE(r.matches("example.com"));
  EXPECT_FALSE(r.matches("badexample.com"));
  EXPECT_FALSE(r.matches(".example.com"));
  EXPECT_FALSE(r.matches("example.com.evil"));
}

TEST(RouteConfig, LeadingDotMatchesSubdomains) {
  const auto r = route({".example.com"});
  EXPECT_TRUE(r.matches("a.example.com"));
  EXPECT_FALSE(r.matches("example.com"));
  EXPECT_FALSE(r.matches("badexample.com"));
}

TEST(RouteConfig, SeveralDomains) {
  const auto r = route({"example.org", "*.example.net"});
  EXPECT_TRUE(r.matches("example.org"));
  EXPECT_TRUE(r.matches("mx.example.net"));
  EXPECT_FALSE(r.matches("example.net"));
  EXPECT_FALSE(r.matches("mx.example.org"));
}

TEST_F(ConfigTest, RouteForIsCaseInsensitiveAndFirstMatchWins) {
  const Config cfg = Config::load(write(R"(hostname = "h.example"
[[route]]
domains = ["Special.Example.COM"]
smart_hosts = ["special.example:25"]

[[route]]
domains = ["*.EXAMPLE.com"]
smart_hosts = ["sub.example:25"]

[[route]]
domains = ["example.com"]
smart_hosts = ["apex.example:25"]

[[route]]
domains = ["*"]
smart_hosts = ["default.example:25"]

[[route]]
domains = ["never.example"]
)"));
  ASSERT_EQ(cfg.routes.size(), 5U);
  EXPECT_EQ(cfg.routes[0].domains[0], "special.example.com");
  EXPECT_EQ(cfg.routes[1].domains[0], "*.example.com");

  EXPECT_EQ(cfg.routeFor("special.example.com"), &cfg.routes[0]);
  EXPECT_EQ(cfg.routeFor("SPECIAL.EXAMPLE.COM"), &cfg.routes[0]);
  EXPECT_EQ(cfg.routeFor("other.example.com"), &cfg.routes[1]);
  EXPECT_EQ(cfg.routeFor("Other.Example.Com"), &cfg.routes[1]);
  EXPECT_EQ(cfg.routeFor("example.com"), &cfg.routes[2]);
  EXPECT_EQ(cfg.routeFor("EXAMPLE.COM"), &cfg.routes[2]);
  EXPECT_EQ(cfg.routeFor("example.org"), &cfg.routes[3]);
  // Shadowed by "*": the last route is never chosen.
  EXPECT_EQ(cfg.routeFor("never.example"), &cfg.routes[3]);
  EXPECT_EQ(cfg.routeFor("other.example.com")->smart_hosts[0].host, "sub.example");
}

TEST_F(ConfigTest, RouteForWithoutCatchAll) {
  const Config cfg =
      Config::load(write("hostname = \"h.example\"\n[[route]]\ndomains = [\"example.com\"]\n"));
  EXPECT_EQ(cfg.routeFor("example.com"), &cfg.routes[0]);
  EXPECT_EQ(cfg.routeFor("example.org"), nullptr);
  EXPECT_EQ(cfg.routeFor("a.example.com"), nullptr);
}

TEST(DeliveryConfig, RetryDelayFollowsTheScheduleAndRepeatsTheLast) {
  DeliveryConfig d;
  d.retry = {seconds(30), minutes(2), hours(1)};
  EXPECT_EQ(d.retryDelay(0), seconds(30));
  EXPECT_EQ(d.retryDelay(1), seconds(30));
  EXPECT_EQ(d.retryDelay(2), minutes(2));
  EXPECT_EQ(d.retryDelay(3), hours(1));
  EXPECT_EQ(d.retryDelay(4), hours(1));
  EXPECT_EQ(d.retryDelay(1000), hours(1));
}

TEST(DeliveryConfig, DefaultRetrySchedule) {
  const DeliveryConfig d;
  EXPECT_EQ(d.retryDelay(1), minutes(1));
  EXPECT_EQ(d.retryDelay(2), minutes(5));
  EXPECT_EQ(d.retryDelay(3), minutes(15));
  EXPECT_EQ(d.retryDelay(4), hours(1));
  EXPECT_EQ(d.retryDelay(5), hours(4));
  EXPECT_EQ(d.retryDelay(6), hours(4));
}

TEST(DeliveryConfig, EmptyScheduleFallsBackToFiveMinutes) {
  DeliveryConfig d;
  d.retry.clear();
  EXPECT_EQ(d.retryDelay(0), minutes(5));
  EXPECT_EQ(d.retryDelay(7), minutes(5));
}

TEST(ConfigNames, ModeAndTlsToString) {
  EXPECT_EQ(toString(ListenerMode::kRelay), "relay");
  EXPECT_EQ(toString(ListenerMode::kSubmission), "submission");
  EXPECT_EQ(toString(ListenerMode::kSmtps), "smtps");
  EXPECT_EQ(toString(RouteTls::kNone), "none");
  EXPECT_EQ(toString(RouteTls::kStartTls), "starttls");
  EXPECT_EQ(toString(RouteTls::kStartTlsRequired), "starttls-required");
  EXPECT_EQ(toString(RouteTls::kTls), "tls");
}

}  // namespace
}  // namespace relayguard
