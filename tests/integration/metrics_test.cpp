// metrics_test: the [admin] listener of the real relay. Known traffic (accepted, rejected and
// quarantined messages, a failed AUTH, a failed TLS handshake, deliveries to a sink, messages left
// queued) must show as exact counts in /metrics, scraped over HTTP and parsed by the official
// Python client (scrape_metrics.py); the queue gauge must agree with `queue list --json`.
// /healthz answers 200, and 503 once the spool cannot be written; other paths and methods are
// refused; a taken admin port stops `serve` at start-up.
#include <fstream>

#include <httplib.h>

#include "tests/integration/relay_harness.hpp"
#include "tests/support/silent_listener.hpp"
#include "tests/support/test_certificates.hpp"

namespace relayguard::test {
namespace {

using namespace std::chrono_literals;
using Labels = std::map<std::string, std::string>;

// One scrape, as the Python parser read it.
class Scrape {
 public:
  explicit Scrape(std::uint16_t port) {
    const CommandResult r =
        runCommand("/usr/bin/python3",
                   {std::string(RELAYGUARD_SOURCE_DIR) + "/tests/integration/scrape_metrics.py",
                    "http://127.0.0.1:" + std::to_string(port) + "/metrics"},
                   20s);
    if (r.exit_status != 0) {
      throw std::runtime_error("scrape_metrics.py failed: " + r.err);
    }
    json_ = nlohmann::json::parse(r.out);
  }
  // The value of the sample with this name and exactly these labels; nullopt if absent.
  std::optional<double> value(const std::string& name, const Labels& labels = {}) const {
    for (const auto& s : json_["samples"]) {
      if (s["name"] == name && s["labels"].get<Labels>() == labels) {
        return s["value"].get<double>();
      }
    }
    return std::nullopt;
  }
  // The sum over every sample of `name` whose labels include `match`.
  double sum(const std::string& name, const Labels& match = {}) const {
    double total = 0;
    for (const auto& s : json_["samples"]) {
      const auto labels = s["labels"].get<Labels>();
      bool ok = s["name"] == name;
      for (const auto& [k, v] : match) {
        ok = ok && labels.count(k) != 0 && labels.at(k) == v;
      }
      total += ok ? s["value"].get<double>() : 0;
    }
    return total;
  }
  std::string type(const std::string& family) const {
    return json_["families"].value(family, std::string("(absent)"));
  }

 private:
  nlohmann::json json_;
};

class MetricsTest : public IntegrationTest {
 protected:
  RelayOptions withAdmin(RelayOptions o) {
    admin_port_ = freeLoopbackPort();
    o.extra_config.push_back("[admin]");
    o.extra_config.push_back("address = \"127.0.0.1:" + std::to_string(admin_port_) + "\"");
    return o;
  }
  httplib::Result get(const std::string& path) {
    httplib::Client c("127.0.0.1", admin_port_);
    c.set_read_timeout(10, 0);
    return c.Get(path.c_str());
  }
  std::uint16_t admin_port_ = 0;
};

const char* kFrom = "app@example.test";

std::string message(const std::string& subject) {
  return makeMessage(kFrom, "user@example.test", subject, "Hello.\r\n");
}

TEST_F(MetricsTest, CountsMatchKnownTrafficAndTheQueue) {
  const auto pki = dir_.path() / "pki";
  std::filesystem::create_directories(pki);
  TestCa ca(pki);
  const TestCertificate leaf = ca.issue("relay", {"localhost"}, {"127.0.0.1"});
  Sink& sink = startSink(freeLoopbackPort());
  RelayOptions o;
  o.smart_hosts = {"127.0.0.1:" + std::to_string(sink.port())};
  o.access = {"users_file = \"users\""};
  o.extra_config = {"[tls]", "certificate = \"" + leaf.certificate.string() + "\"",
                    "private_key = \"" + leaf.private_key.string() + "\""};
  Relay& relay = makeRelay(withAdmin(o));
  const auto rules = relay.configFile().parent_path() / "rules";
  std::ofstream(rules / "pipeline.toml") << "[[stage]]\ntype = \"content\"\n";
  std::ofstream(rules / "10-content.toml")
      << "[[rule]]\nid = \"no-reject\"\nstage = \"content\"\naction = \"reject\"\n"
         "header = \"Subject\"\npattern = 'REJECT-ME'\n"
         "[[rule]]\nid = \"hold-me\"\nstage = \"content\"\naction = \"quarantine\"\n"
         "header = \"Subject\"\npattern = 'HOLD-ME'\n";
  const CommandResult added = runCommand(
      relayguardBinary(), {"user", "add", "alice", "--config", relay.configFile().string()}, 20s,
      std::string("right password\n"));
  ASSERT_EQ(added.exit_status, 0) << added.err;
  relay.start();

  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(
        relay.send(kFrom, {"user@example.test"}, message("fine " + std::to_string(i))).final.code,
        250);
  }
  EXPECT_EQ(relay.send(kFrom, {"user@example.test"}, message("REJECT-ME")).final.code, 550);
  EXPECT_EQ(relay.send(kFrom, {"user@example.test"}, message("HOLD-ME")).final.code, 250);
  {
    SmtpTestClient c;
    ASSERT_TRUE(c.connect("127.0.0.1", relay.port()));
    ASSERT_TRUE(c.greetAndEhlo());
    ASSERT_TRUE(c.startTls(ca.caFile())) << c.lastError();
    ASSERT_EQ(c.command("EHLO client.test").code, 250);
    EXPECT_EQ(c.authPlain("alice", "wrong password").code, 535);
  }
  {
    SmtpTestClient c;  // STARTTLS, then no TLS handshake but plain text: the handshake fails
    ASSERT_TRUE(c.connect("127.0.0.1", relay.port()));
    ASSERT_TRUE(c.greetAndEhlo());
    ASSERT_EQ(c.command("STARTTLS").code, 220);
    c.sendRaw("this is not a TLS ClientHello\r\n\r\n");
    c.waitForClose(5s);
  }
  ASSERT_TRUE(sink.waitForMessages(3, 10s));
  ASSERT_TRUE(relay.waitForQueueSize(0, 10s));
  // Then the smart host goes away: two more messages stay queued.
  sink.stop();
  EXPECT_EQ(relay.send(kFrom, {"user@example.test"}, message("later 1")).final.code, 250);
  EXPECT_EQ(relay.send(kFrom, {"user@example.test"}, message("later 2")).final.code, 250);
  ASSERT_TRUE(waitUntil(
      [&] {
        return Scrape(admin_port_).sum("relayguard_deliveries_total", {{"result", "deferred"}}) >=
               2;
      },
      10s));

  const Scrape m(admin_port_);
  const Labels accept = {{"verdict", "accept"}, {"stage", ""}, {"rule", ""}};
  EXPECT_EQ(m.value("relayguard_messages_total", accept), 5);
  EXPECT_EQ(m.value("relayguard_messages_total",
                    {{"verdict", "reject"}, {"stage", "content"}, {"rule", "no-reject"}}),
            1);
  EXPECT_EQ(m.value("relayguard_messages_total",
                    {{"verdict", "quarantine"}, {"stage", "content"}, {"rule", "hold-me"}}),
            1);
  EXPECT_EQ(m.sum("relayguard_messages_total"), 7);
  EXPECT_EQ(m.value("relayguard_rule_matches_total",
                    {{"stage", "content"}, {"rule", "hold-me"}, {"action", "quarantine"}}),
            1);
  EXPECT_EQ(m.value("relayguard_auth_attempts_total", {{"result", "failure"}}), 1);
  EXPECT_EQ(m.value("relayguard_auth_attempts_total", {{"result", "success"}}), 0);
  EXPECT_EQ(m.value("relayguard_tls_handshake_failures_total", {{"mode", "relay"}}), 1);
  // The harness's readiness probe, 7 sends, the AUTH session and the failed handshake.
  EXPECT_EQ(m.value("relayguard_smtp_connections_total", {{"mode", "relay"}}), 10);
  EXPECT_EQ(
      m.value("relayguard_deliveries_total", {{"result", "delivered"}, {"route", "route#1 (*)"}}),
      3);
  EXPECT_EQ(m.sum("relayguard_deliveries_total", {{"result", "failed"}}), 0);
  // Every verdict ran the content stage once; the histogram has all of them.
  EXPECT_EQ(m.value("relayguard_stage_duration_seconds_count", {{"stage", "content"}}), 7);
  EXPECT_EQ(
      m.value("relayguard_stage_duration_seconds_bucket", {{"stage", "content"}, {"le", "+Inf"}}),
      7);
  EXPECT_EQ(m.value("relayguard_pipeline_duration_seconds_count"), 7);
  EXPECT_EQ(m.type("relayguard_stage_duration_seconds"), "histogram");
  EXPECT_EQ(m.type("relayguard_messages"), "counter");
  EXPECT_EQ(m.value("relayguard_rules_loaded"), 2);
  EXPECT_FALSE(m.value("relayguard_antivirus_signatures").has_value());  // no antivirus stage

  const auto queued = relay.queueList();
  EXPECT_EQ(queued.size(), 2U);
  EXPECT_EQ(m.value("relayguard_queue_messages"), static_cast<double>(queued.size()));
  const auto age = m.value("relayguard_queue_oldest_message_age_seconds");
  ASSERT_TRUE(age.has_value());
  EXPECT_GE(*age, 0);
  EXPECT_LT(*age, 60);
}

TEST_F(MetricsTest, AntivirusSignaturesAndDatabaseAge) {
  Relay& relay = makeRelay(withAdmin({}));
  const auto rules = relay.configFile().parent_path() / "rules";
  std::filesystem::create_directories(rules / "clamav");
  std::ofstream(rules / "clamav" / "test.ndb")
      << "Integ.One:0:*:52454c415947554152442d494e5445472d4f4e45\n"
         "Integ.Two:0:*:52454c415947554152442d494e5445472d54574f\n";
  std::filesystem::last_write_time(rules / "clamav" / "test.ndb",
                                   std::filesystem::file_time_type::clock::now() - 2h);
  std::ofstream(rules / "pipeline.toml")
      << "[[stage]]\ntype = \"antivirus\"\ndatabase = \"clamav\"\n";
  relay.start();
  const Scrape m(admin_port_);
  EXPECT_EQ(m.value("relayguard_antivirus_signatures"), 2);
  const auto age = m.value("relayguard_antivirus_database_age_seconds");
  ASSERT_TRUE(age.has_value());
  EXPECT_NEAR(*age, 7200, 60);
  const auto res = get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(MetricsTest, HealthzFailsWhileTheSpoolCannotBeWritten) {
  Relay& relay = startRelay(withAdmin({}));
  auto res = get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "ok\n");
  // Root ignores permissions, so make the spool's write area a file instead of a directory:
  // every message write (and the probe) fails with ENOTDIR, as it would on a broken disk.
  const auto tmp = relay.spoolDir() / "tmp";
  std::filesystem::rename(tmp, relay.spoolDir() / "tmp.away");
  std::ofstream(tmp) << "not a directory\n";
  res = get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_NE(res->body.find("spool not writable"), std::string::npos) << res->body;
  // The relay agrees: the message is refused with 451 and counted.
  EXPECT_EQ(relay.send(kFrom, {"user@example.test"}, message("no room")).final.code, 451);
  EXPECT_EQ(
      Scrape(admin_port_).value("relayguard_messages_refused_total", {{"reason", "storage_error"}}),
      1);
  std::filesystem::remove(tmp);
  std::filesystem::rename(relay.spoolDir() / "tmp.away", tmp);
  res = get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(MetricsTest, OnlyGetOfTheTwoPathsIsServed) {
  startRelay(withAdmin({}));
  httplib::Client c("127.0.0.1", admin_port_);
  const auto post = c.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET, HEAD");
  const auto del = c.Delete("/healthz");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 405);
  const auto other = c.Get("/");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
  const auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
}

TEST_F(MetricsTest, ATakenAdminPortIsAStartUpError) {
  const SilentListener holder;
  const std::uint16_t taken = holder.port();
  RelayOptions o;
  o.extra_config = {"[admin]", "address = \"127.0.0.1:" + std::to_string(taken) + "\""};
  Relay& relay = makeRelay(o);
  const CommandResult r =
      runCommand(relayguardBinary(), {"serve", "--config", relay.configFile().string()}, 20s);
  EXPECT_EQ(r.exit_status, 1);
  EXPECT_NE(r.err.find("cannot listen on 127.0.0.1:" + std::to_string(taken) +
                       " ([admin]): Address already in use"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace relayguard::test
