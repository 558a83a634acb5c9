// doctor_test: the checks of `relayguard doctor` with the real libunbound resolver and libspf2
// against the Python test DNS server on loopback: a zone where everything passes, then one
// broken thing at a time (SPF missing or not covering the egress IP, DKIM record missing or
// holding another key or another key type, DMARC missing / would fail / p=none, PTR missing /
// naming another host / not forward-confirmed, a server that does not answer), a subdomain
// covered by its parent's key and DMARC record, and the text and JSON forms.
#include "core/doctor/doctor.hpp"

#include <thread>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dns/unbound_resolver.hpp"
#include "signing/dkim_keygen.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_dns_server.hpp"

namespace relayguard::doctor {
namespace {

using ::testing::HasSubstr;

constexpr const char* kIp = "192.0.2.10";
constexpr const char* kHost = "relay.example.test";

std::shared_ptr<const signing::DkimKey> makeKey(const std::string& domain,
                                                const std::string& selector,
                                                signing::DkimAlgorithm algorithm) {
  const signing::EvpPkeyPtr k = signing::generateKey(algorithm);
  return signing::DkimKey::fromPem(domain, selector, algorithm, signing::privateKeyPem(k.get()));
}

class DoctorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    key_ = makeKey("example.test", "s1", signing::DkimAlgorithm::kEd25519Sha256);
    other_key_ = makeKey("example.test", "s1", signing::DkimAlgorithm::kEd25519Sha256);
  }
  static void TearDownTestSuite() {
    key_.reset();
    other_key_.reset();
  }

  // Everything in order for example.test, egress IP 192.0.2.10, hostname relay.example.test.
  static nlohmann::json passingZone() {
    return {{"ttl", 60},
            {"names",
             {{"example.test", {{"TXT", {"v=spf1 ip4:192.0.2.10 -all"}}}},
              {"s1._domainkey.example.test", {{"TXT", {key_->dnsRecord()}}}},
              {"_dmarc.example.test", {{"TXT", {"v=DMARC1; p=reject; rua=mailto:d@example.test"}}}},
              {"10.2.0.192.in-addr.arpa", {{"PTR", {"relay.example.test"}}}},
              {"relay.example.test", {{"A", {"192.0.2.10"}}}}}}};
  }

  Input input(std::vector<std::string> extra_domains = {}) const {
    Input in;
    in.hostname = kHost;
    in.egress_ips = {kIp};
    in.keys = {key_.get()};
    in.domains.push_back({"example.test", {key_.get()}});
    for (auto& d : extra_domains) {
      in.domains.push_back({d, {key_.get()}});  // keysFor: the parent's key signs them
    }
    return in;
  }

  Report run(const nlohmann::json& zone, const Input& in) {
    const auto folder = dir_.path() / std::to_string(++runs_);  // a fresh server log per run
    std::filesystem::create_directories(folder);
    test::TestDnsServer server(folder, zone);
    asio::io_context io;
    auto work = asio::make_work_guard(io);
    std::thread thread([&io] { io.run(); });
    dns::ResolverOptions o;
    o.servers.push_back(dns::ServerAddress{"127.0.0.1", server.port()});
    o.timeout = std::chrono::milliseconds(500);
    o.attempts = 1;
    Report report;
    {
      dns::UnboundResolver resolver(io.get_executor(), o);
      report = runDoctor(resolver, in);
    }
    work.reset();
    io.stop();
    thread.join();
    text_ = formatText(report);
    return report;
  }
  Report run(const nlohmann::json& zone) { return run(zone, input()); }

  // The one check of this kind and subject; fails the test if there is not exactly one.
  const Check& find(const Report& r, const std::string& kind, const std::string& subject) {
    const Check* found = nullptr;
    int n = 0;
    for (const Check& c : r.checks) {
      if (c.kind == kind && c.subject == subject) {
        found = &c;
        ++n;
      }
    }
    EXPECT_EQ(n, 1) << kind << " " << subject << "\n" << text_;
    static const Check kNone{"none", "none", Status::kFail, "no such check", {}};
    return found != nullptr ? *found : kNone;
  }
  static std::string fixes(const Check& c) {
    std::string out;
    for (const auto& f : c.fixes) {
      out += f + "\n";
    }
    return out;
  }

  static inline std::shared_ptr<const signing::DkimKey> key_;
  static inline std::shared_ptr<const signing::DkimKey> other_key_;
  test::TempDir dir_;
  std::string text_;
  int runs_ = 0;
};

TEST_F(DoctorTest, EverythingPublishedPasses) {
  const Report r = run(passingZone());
  EXPECT_TRUE(r.ok()) << text_;
  EXPECT_EQ(r.checks.size(), 4U) << text_;
  EXPECT_EQ(find(r, "spf", "example.test 192.0.2.10").status, Status::kOk);
  EXPECT_EQ(find(r, "dkim", "s1._domainkey.example.test").status, Status::kOk);
  const Check& dmarc = find(r, "dmarc", "example.test");
  EXPECT_EQ(dmarc.status, Status::kOk);
  EXPECT_THAT(dmarc.detail, HasSubstr("would pass (DKIM aligned (s1._domainkey.example.test), "
                                      "SPF aligned and passing)"));
  const Check& ptr = find(r, "ptr", kIp);
  EXPECT_EQ(ptr.status, Status::kOk);
  EXPECT_EQ(ptr.detail, "relay.example.test (forward-confirmed)");
  EXPECT_THAT(text_, HasSubstr("ok    spf    example.test 192.0.2.10: pass ("));
  EXPECT_THAT(text_, HasSubstr("ok: 4 ok, 0 warning(s), 0 failed, 0 not checked"));
}

TEST_F(DoctorTest, MissingSpfRecord) {
  auto zone = passingZone();
  zone["names"]["example.test"] = nlohmann::json::object();
  const Report r = run(zone);
  EXPECT_FALSE(r.ok());
  const Check& spf = find(r, "spf", "example.test");
  EXPECT_EQ(spf.status, Status::kFail);
  EXPECT_THAT(spf.detail, HasSubstr("no SPF record"));
  EXPECT_EQ(fixes(spf), "publish: example.test. IN TXT \"v=spf1 ip4:192.0.2.10 -all\"\n");
  // DKIM alone still makes DMARC pass.
  EXPECT_EQ(find(r, "dmarc", "example.test").status, Status::kOk) << text_;
  EXPECT_THAT(text_, HasSubstr("FAIL  spf    example.test: no SPF record"));
  EXPECT_THAT(
      text_, HasSubstr("\n        publish: example.test. IN TXT \"v=spf1 ip4:192.0.2.10 -all\"\n"));
}

TEST_F(DoctorTest, SpfNotCoveringTheEgressIp) {
  auto zone = passingZone();
  zone["names"]["example.test"]["TXT"] = {"v=spf1 ip4:198.51.100.1 -all"};
  const Report r = run(zone);
  EXPECT_FALSE(r.ok());
  const Check& spf = find(r, "spf", "example.test 192.0.2.10");
  EXPECT_EQ(spf.status, Status::kFail);
  EXPECT_THAT(spf.detail, HasSubstr("fail"));
  EXPECT_THAT(fixes(spf),
              HasSubstr("publish: example.test. IN TXT \"v=spf1 ip4:192.0.2.10 ip4:198.51.100.1 "
                        "-all\""));
}

TEST_F(DoctorTest, TwoSpfRecords) {
  auto zone = passingZone();
  zone["names"]["example.test"]["TXT"] = {"v=spf1 ip4:192.0.2.10 -all", "v=spf1 -all"};
  const Report r = run(zone);
  const Check& spf = find(r, "spf", "example.test");
  EXPECT_EQ(spf.status, Status::kFail);
  EXPECT_THAT(spf.detail, HasSubstr("2 SPF records"));
}

TEST_F(DoctorTest, MissingDkimRecord) {
  auto zone = passingZone();
  zone["names"].erase("s1._domainkey.example.test");
  const Report r = run(zone);
  EXPECT_FALSE(r.ok());
  const Check& dkim = find(r, "dkim", "s1._domainkey.example.test");
  EXPECT_EQ(dkim.status, Status::kFail);
  EXPECT_THAT(dkim.detail, HasSubstr("no DKIM record"));
  EXPECT_EQ(fixes(dkim),
            "publish: " + signing::zoneFileRecord("s1", "example.test", key_->dnsRecord()) + "\n");
  // SPF alone still makes DMARC pass.
  const Check& dmarc = find(r, "dmarc", "example.test");
  EXPECT_EQ(dmarc.status, Status::kOk);
  EXPECT_THAT(dmarc.detail, HasSubstr("(SPF aligned and passing)"));
}

TEST_F(DoctorTest, DkimRecordWithAnotherKey) {
  auto zone = passingZone();
  zone["names"]["s1._domainkey.example.test"]["TXT"] = {other_key_->dnsRecord()};
  const Report r = run(zone);
  const Check& dkim = find(r, "dkim", "s1._domainkey.example.test");
  EXPECT_EQ(dkim.status, Status::kFail);
  EXPECT_THAT(dkim.detail, HasSubstr("another key"));
  EXPECT_THAT(fixes(dkim), HasSubstr(key_->dnsRecord().substr(0, 60)));
}

TEST_F(DoctorTest, DkimRecordOfAnotherKeyType) {
  auto zone = passingZone();
  std::string record = key_->dnsRecord();
  record.replace(record.find("k=ed25519"), 9, "k=rsa");
  zone["names"]["s1._domainkey.example.test"]["TXT"] = {record};
  const Report r = run(zone);
  const Check& dkim = find(r, "dkim", "s1._domainkey.example.test");
  EXPECT_EQ(dkim.status, Status::kFail);
  EXPECT_THAT(dkim.detail, HasSubstr("k=rsa"));
}

TEST_F(DoctorTest, DkimRecordFoldedWithSpacesStillMatches) {
  auto zone = passingZone();
  std::string record = key_->dnsRecord();
  record.insert(record.size() - 10, " ");  // whitespace inside p= is allowed (RFC 6376 3.6.1)
  zone["names"]["s1._domainkey.example.test"]["TXT"] = {record};
  const Report r = run(zone);
  EXPECT_EQ(find(r, "dkim", "s1._domainkey.example.test").status, Status::kOk) << text_;
}

TEST_F(DoctorTest, MissingDmarcRecord) {
  auto zone = passingZone();
  zone["names"].erase("_dmarc.example.test");
  const Report r = run(zone);
  EXPECT_FALSE(r.ok());
  const Check& dmarc = find(r, "dmarc", "example.test");
  EXPECT_EQ(dmarc.status, Status::kFail);
  EXPECT_THAT(dmarc.detail, HasSubstr("no DMARC record"));
  EXPECT_THAT(fixes(dmarc), HasSubstr("publish: _dmarc.example.test. IN TXT \"v=DMARC1; p=none; "
                                      "rua=mailto:postmaster@example.test\""));
  EXPECT_THAT(fixes(dmarc), HasSubstr("p=quarantine"));
}

TEST_F(DoctorTest, DmarcWouldFailWithoutSpfAndDkim) {
  auto zone = passingZone();
  zone["names"]["example.test"]["TXT"] = {"v=spf1 -all"};
  zone["names"].erase("s1._domainkey.example.test");
  const Report r = run(zone);
  const Check& dmarc = find(r, "dmarc", "example.test");
  EXPECT_EQ(dmarc.status, Status::kFail);
  EXPECT_THAT(dmarc.detail, HasSubstr("would fail"));
  EXPECT_THAT(dmarc.detail, HasSubstr("not published correctly"));
  EXPECT_THAT(dmarc.detail, HasSubstr("SPF does not pass"));
}

TEST_F(DoctorTest, DmarcMonitoringOnlyIsAWarning) {
  auto zone = passingZone();
  zone["names"]["_dmarc.example.test"]["TXT"] = {"v=DMARC1; p=none"};
  const Report r = run(zone);
  EXPECT_TRUE(r.ok()) << text_;
  const Check& dmarc = find(r, "dmarc", "example.test");
  EXPECT_EQ(dmarc.status, Status::kWarn);
  EXPECT_THAT(text_, HasSubstr("WARN  dmarc  example.test: v=DMARC1; p=none: would pass"));
}

TEST_F(DoctorTest, SubdomainUsesTheParentsKeyAndDmarcRecord) {
  auto zone = passingZone();
  zone["names"]["news.example.test"] = {{"TXT", {"v=spf1 ip4:192.0.2.10 -all"}}};
  Report r = run(zone, input({"news.example.test"}));
  EXPECT_TRUE(r.ok()) << text_;
  const Check& dmarc = find(r, "dmarc", "news.example.test");
  EXPECT_THAT(dmarc.detail, HasSubstr("(from _dmarc.example.test)"));
  EXPECT_THAT(dmarc.detail, HasSubstr("DKIM aligned"));
  // Strict DKIM alignment and no SPF for the subdomain: would fail.
  zone["names"]["_dmarc.example.test"]["TXT"] = {"v=DMARC1; p=reject; adkim=s"};
  zone["names"].erase("news.example.test");
  r = run(zone, input({"news.example.test"}));
  EXPECT_EQ(find(r, "dmarc", "news.example.test").status, Status::kFail) << text_;
  EXPECT_THAT(find(r, "dmarc", "news.example.test").detail, HasSubstr("adkim=s"));
  EXPECT_EQ(find(r, "dmarc", "example.test").status, Status::kOk) << text_;
}

TEST_F(DoctorTest, MissingPtr) {
  auto zone = passingZone();
  zone["names"].erase("10.2.0.192.in-addr.arpa");
  const Report r = run(zone);
  EXPECT_FALSE(r.ok());
  const Check& ptr = find(r, "ptr", kIp);
  EXPECT_EQ(ptr.status, Status::kFail);
  EXPECT_THAT(ptr.detail, HasSubstr("no PTR record at 10.2.0.192.in-addr.arpa"));
  EXPECT_THAT(fixes(ptr), HasSubstr("fix: ask the owner of 192.0.2.10"));
  EXPECT_THAT(fixes(ptr), HasSubstr("to relay.example.test"));
}

TEST_F(DoctorTest, PtrNamingAnotherHost) {
  auto zone = passingZone();
  zone["names"]["10.2.0.192.in-addr.arpa"]["PTR"] = {"host-10.provider.test"};
  const Report r = run(zone);
  const Check& ptr = find(r, "ptr", kIp);
  EXPECT_EQ(ptr.status, Status::kFail);
  EXPECT_THAT(ptr.detail,
              HasSubstr("PTR is host-10.provider.test, not hostname relay.example.test"));
}

TEST_F(DoctorTest, PtrMatchesIgnoringCaseAndTrailingDot) {
  auto zone = passingZone();
  zone["names"]["10.2.0.192.in-addr.arpa"]["PTR"] = {"Relay.Example.TEST."};
  Input in = input();
  in.hostname = "relay.example.test.";
  const Report r = run(zone, in);
  EXPECT_EQ(find(r, "ptr", kIp).status, Status::kOk) << text_;
}

TEST_F(DoctorTest, PtrNotForwardConfirmed) {
  auto zone = passingZone();
  zone["names"]["relay.example.test"]["A"] = {"192.0.2.99"};
  const Report r = run(zone);
  const Check& ptr = find(r, "ptr", kIp);
  EXPECT_EQ(ptr.status, Status::kFail);
  EXPECT_THAT(ptr.detail, HasSubstr("does not resolve back to 192.0.2.10 (it resolves to "
                                    "192.0.2.99)"));
  EXPECT_THAT(fixes(ptr), HasSubstr("publish: relay.example.test. IN A 192.0.2.10"));
}

TEST_F(DoctorTest, DnsTimeoutIsNotMissing) {
  auto zone = passingZone();
  zone["names"]["example.test"] = {{"TIMEOUT", true}};
  zone["names"]["_dmarc.example.test"] = {{"TIMEOUT", true}};
  const Report r = run(zone);
  EXPECT_FALSE(r.ok());
  for (const char* kind : {"spf", "dmarc"}) {
    const Check& c = find(r, kind, "example.test");
    EXPECT_EQ(c.status, Status::kDnsError) << kind;
    EXPECT_THAT(c.detail, HasSubstr("could not check (DNS temporary failure")) << kind;
  }
  EXPECT_EQ(find(r, "dkim", "s1._domainkey.example.test").status, Status::kOk);
  EXPECT_THAT(text_, HasSubstr("FAIL  spf    example.test: could not check"));
  EXPECT_THAT(text_, HasSubstr("2 not checked (DNS failure)"));
  EXPECT_EQ(toJson(r)["checks"][0]["status"], "dns-error");
}

TEST_F(DoctorTest, NothingToCheckFails) {
  Input in;
  in.hostname = kHost;
  const Report r = run(passingZone(), in);
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.checks.size(), 2U);
  EXPECT_EQ(r.checks[0].kind, "config");
  EXPECT_EQ(r.checks[1].kind, "config");
}

TEST_F(DoctorTest, JsonHasEveryCheck) {
  auto zone = passingZone();
  zone["names"].erase("_dmarc.example.test");
  const nlohmann::json j = toJson(run(zone));
  EXPECT_EQ(j["ok"], false);
  ASSERT_EQ(j["checks"].size(), 4U);
  EXPECT_EQ(j["checks"][2]["kind"], "dmarc");
  EXPECT_EQ(j["checks"][2]["status"], "fail");
  EXPECT_EQ(j["checks"][2]["fixes"].size(), 1U);
  EXPECT_EQ(j["checks"][3]["status"], "ok");
}

TEST(DoctorHelpers, ReverseNames) {
  EXPECT_EQ(reverseName("192.0.2.10"), "10.2.0.192.in-addr.arpa");
  EXPECT_EQ(reverseName("2001:db8::1"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
  EXPECT_EQ(reverseName("not-an-ip"), "");
}

TEST(DoctorHelpers, TagLists) {
  const auto tags = parseTagList(" v=DKIM1 ; k=rsa; p=AB CD\t EF ;; t=y:s; k=ed25519");
  ASSERT_EQ(tags.size(), 4U);
  EXPECT_EQ(tags[0], (std::pair<std::string, std::string>{"v", "DKIM1"}));
  EXPECT_EQ(tags[1].second, "rsa");  // the first k= counts
  EXPECT_EQ(tags[2].second, "ABCDEF");
  EXPECT_EQ(tags[3].second, "y:s");
}

}  // namespace
}  // namespace relayguard::doctor
