// doctor_test: `relayguard doctor --config ...` end to end against a real DNS server on loopback
// (tests/support/test_dns_server.py): the key made by `relayguard dkim keygen`, the spf stage's
// egress_ips and [hostname] from the config; a zone that passes (exit 0, every line "ok"), a
// zone with failures (exit 1, FAIL lines with what to publish), --domain / --egress-ip, --json,
// and usage errors (exit 2).
#include <fstream>
#include <regex>

#include <gmock/gmock.h>

#include "tests/integration/relay_harness.hpp"
#include "tests/support/test_dns_server.hpp"

namespace relayguard::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class DoctorTest : public IntegrationTest {
 protected:
  void SetUp() override {
    dns_ = std::make_unique<TestDnsServer>(dir_.path(), nlohmann::json::object());
    RelayOptions opts;
    opts.hostname = "relay.example.test";
    opts.extra_config = {"[dns]", "servers = [\"" + dns_->address() + "\"]", "timeout = \"1s\"",
                         "attempts = 1"};
    relay_ = &makeRelay(opts);
    const auto rules = relay_->configFile().parent_path() / "rules";
    std::filesystem::create_directories(rules / "keys");
    const CommandResult k = relay_->cli({"dkim", "keygen", "--domain", "example.test", "--selector",
                                         "s1", "--algorithm", "ed25519-sha256", "--out",
                                         (rules / "keys" / "s1.pem").string()});
    ASSERT_EQ(k.exit_status, 0) << k.err;
    const std::regex part("\"([^\"]*)\"");
    for (std::sregex_iterator it(k.out.begin(), k.out.end(), part), end; it != end; ++it) {
      dkim_record_ += (*it)[1].str();
    }
    std::ofstream(rules / "pipeline.toml")
        << "[[stage]]\ntype = \"spf\"\negress_ips = [\"192.0.2.10\"]\n\n"
           "[[stage]]\ntype = \"dkim\"\n[[stage.key]]\ndomain = \"example.test\"\n"
           "selector = \"s1\"\nalgorithm = \"ed25519-sha256\"\nprivate_key = \"keys/s1.pem\"\n";
  }

  nlohmann::json passingZone() const {
    return {{"ttl", 60},
            {"names",
             {{"example.test", {{"TXT", {"v=spf1 ip4:192.0.2.10 -all"}}}},
              {"s1._domainkey.example.test", {{"TXT", {dkim_record_}}}},
              {"_dmarc.example.test", {{"TXT", {"v=DMARC1; p=reject"}}}},
              {"10.2.0.192.in-addr.arpa", {{"PTR", {"relay.example.test"}}}},
              {"relay.example.test", {{"A", {"192.0.2.10"}}}}}}};
  }

  std::unique_ptr<TestDnsServer> dns_;
  Relay* relay_ = nullptr;
  std::string dkim_record_;
};

TEST_F(DoctorTest, PassingZoneExitsZero) {
  dns_->update(passingZone());
  const CommandResult r = relay_->cli({"doctor"});
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("ok    spf    example.test 192.0.2.10: pass"));
  EXPECT_THAT(r.out, HasSubstr("ok    dkim   s1._domainkey.example.test: published key matches "
                               "(ed25519-sha256)"));
  EXPECT_THAT(r.out, HasSubstr("ok    dmarc  example.test: v=DMARC1; p=reject: would pass"));
  EXPECT_THAT(r.out, HasSubstr("ok    ptr    192.0.2.10: relay.example.test (forward-confirmed)"));
  EXPECT_THAT(r.out, HasSubstr("ok: 4 ok, 0 warning(s), 0 failed"));
  EXPECT_THAT(r.out, Not(HasSubstr("FAIL")));
}

TEST_F(DoctorTest, FailingZoneExitsOneAndSaysWhatToPublish) {
  auto zone = passingZone();
  zone["names"].erase("_dmarc.example.test");
  zone["names"].erase("s1._domainkey.example.test");
  zone["names"].erase("10.2.0.192.in-addr.arpa");
  dns_->update(zone);
  const CommandResult r = relay_->cli({"doctor"});
  EXPECT_EQ(r.exit_status, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("ok    spf    example.test 192.0.2.10: pass"));
  EXPECT_THAT(r.out, HasSubstr("FAIL  dkim   s1._domainkey.example.test: no DKIM record"));
  EXPECT_THAT(r.out, HasSubstr("\n        publish: s1._domainkey.example.test. IN TXT ( \"" +
                               dkim_record_ + "\" )\n"));
  EXPECT_THAT(r.out, HasSubstr("FAIL  dmarc  example.test: no DMARC record"));
  EXPECT_THAT(r.out, HasSubstr("\n        publish: _dmarc.example.test. IN TXT \"v=DMARC1; "
                               "p=none; rua=mailto:postmaster@example.test\""));
  EXPECT_THAT(r.out, HasSubstr("FAIL  ptr    192.0.2.10: no PTR record"));
  EXPECT_THAT(r.out, HasSubstr("FAIL: 1 ok, 0 warning(s), 3 failed"));
}

TEST_F(DoctorTest, ExtraDomainsAndIpsAndJson) {
  dns_->update(passingZone());
  const CommandResult r = relay_->cli({"doctor", "--domain", "Other.Test.", "--egress-ip",
                                       "192.0.2.10", "--egress-ip", "2001:db8::25", "--json"});
  EXPECT_EQ(r.exit_status, 1) << r.out << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ok"], false);
  std::map<std::string, std::string> status;
  for (const auto& c : j["checks"]) {
    status[c["kind"].get<std::string>() + " " + c["subject"].get<std::string>()] =
        c["status"].get<std::string>();
  }
  EXPECT_EQ(status["spf example.test 192.0.2.10"], "ok");
  EXPECT_EQ(status["spf example.test 2001:db8::25"], "fail");
  EXPECT_EQ(status["spf other.test"], "fail");  // no record: one line for the domain
  EXPECT_EQ(status["dmarc other.test"], "fail");
  EXPECT_EQ(status["ptr 192.0.2.10"], "ok");
  EXPECT_EQ(status["ptr 2001:db8::25"], "fail");
  EXPECT_EQ(status.count("dkim s1._domainkey.example.test"), 1U);
}

TEST_F(DoctorTest, UnansweredDnsFails) {
  auto zone = passingZone();
  zone["silent"] = true;
  dns_->update(zone);
  const CommandResult r = relay_->cli({"doctor"});
  EXPECT_EQ(r.exit_status, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("FAIL  spf    example.test: could not check (DNS temporary "
                               "failure"));
}

TEST_F(DoctorTest, UsageErrors) {
  EXPECT_EQ(relay_->cli({"doctor", "--egress-ip", "not-an-ip"}).exit_status, 2);
  EXPECT_EQ(relay_->cli({"doctor", "--domain", "bad domain"}).exit_status, 2);
  EXPECT_EQ(relay_->cli({"doctor", "--no-such-flag"}).exit_status, 2);
}

}  // namespace
}  // namespace relayguard::test
