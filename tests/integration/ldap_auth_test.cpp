// ldap_auth_test: `relayguard serve` with [auth.ldap] and no users file, against a real slapd
// (tests/support/test_slapd.hpp) over ldaps://: after STARTTLS, AUTH PLAIN with the directory
// password relays mail, a wrong password and a user outside the required group get 535 5.7.8,
// and with the directory down AUTH gets 454 4.7.0 (a temporary failure) while a recently
// verified login still works from the cache. `relayguard check` accepts the config.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/integration/relay_harness.hpp"
#include "tests/support/test_certificates.hpp"
#include "tests/support/test_slapd.hpp"

namespace relayguard::test {
namespace {

using namespace std::chrono_literals;

class LdapAuthTest : public IntegrationTest {
 protected:
  // A relay with a submission listener (listenerPort(0)) whose AUTH goes to the test slapd.
  Relay& startLdapRelay() {
    server_ = std::make_unique<TestDirectoryServer>(dir_.path() / "ldap");
    slapd_ = &server_->slapd;
    ca_ = &server_->ca;
    const auto leaf = ca_->issue("relay", {"localhost"}, {"127.0.0.1"});
    sink_ = &startSink(freeLoopbackPort());
    const auto pw = dir_.write("ldap.pw", std::string(TestSlapd::kServicePassword) + "\n");
    ::chmod(pw.c_str(), 0600);
    RelayOptions o;
    o.smart_hosts = {"127.0.0.1:" + std::to_string(sink_->port())};
    o.extra_listeners = {"submission"};
    o.extra_config = {
        "[tls]",
        "certificate = \"" + leaf.certificate.string() + "\"",
        "private_key = \"" + leaf.private_key.string() + "\"",
        "[auth.ldap]",
        "url = \"" + slapd_->ldapsUrl() + "\"",
        "ca_file = \"" + ca_->caFile().string() + "\"",
        "bind_dn = \"" + std::string(TestSlapd::kServiceDn) + "\"",
        "bind_password_file = \"" + pw.string() + "\"",
        "base_dn = \"" + std::string(TestSlapd::kBaseDn) + "\"",
        "user_filter = \"" + std::string(TestSlapd::kUserFilter) + "\"",
        "required_group = \"" + std::string(TestSlapd::kGroupDn) + "\"",
        "timeout = \"2s\"",
    };
    Relay& relay = makeRelay(std::move(o));
    relay.start();
    return relay;
  }

  // Connected to the submission listener, STARTTLS'd and EHLO'd.
  std::unique_ptr<SmtpTestClient> client(const Relay& relay) {
    auto c = std::make_unique<SmtpTestClient>();
    EXPECT_TRUE(c->connect("127.0.0.1", relay.listenerPort(0))) << c->lastError();
    EXPECT_TRUE(c->greetAndEhlo()) << c->lastError();
    EXPECT_TRUE(c->startTls(ca_->caFile())) << c->lastError();
    const SmtpReply ehlo = c->command("EHLO client.test");
    EXPECT_NE(std::find(ehlo.lines.begin(), ehlo.lines.end(), "AUTH PLAIN LOGIN"), ehlo.lines.end())
        << ehlo;
    return c;
  }

  std::unique_ptr<TestDirectoryServer> server_;
  TestCa* ca_ = nullptr;
  TestSlapd* slapd_ = nullptr;
  Sink* sink_ = nullptr;
};

TEST_F(LdapAuthTest, DirectoryUsersRelayOthersAreRefusedAndADownDirectoryIsTemporary) {
  Relay& relay = startLdapRelay();
  const auto checked = relay.cli({"check"});
  EXPECT_EQ(checked.exit_status, 0) << checked.err;

  // Success: the directory password, and the mail goes out with the user recorded.
  {
    auto c = client(relay);
    const SmtpReply ok = c->authPlain("alice", "alice's secret");
    EXPECT_EQ(ok.code, 235) << ok;
    const auto t = c->sendMail("alice@example.test", {"bob@ext.test"},
                               makeMessage("alice@example.test", "bob@ext.test", "ldap", "hello"));
    ASSERT_TRUE(t.accepted()) << t.final;
    c->command("QUIT");
    ASSERT_TRUE(sink_->waitForMessages(1, 10s));
    const auto audit = auditLines(relay.spoolDir() / "audit");
    ASSERT_FALSE(audit.empty());
    EXPECT_EQ(audit.front()["auth_user"], "alice");
  }
  // A wrong password, and a user outside Mail-Relay-Senders.
  for (const auto& [user, password] : std::vector<std::pair<std::string, std::string>>{
           {"alice", "not alice's secret"}, {"bob", "bob's secret"}}) {
    auto c = client(relay);
    const SmtpReply no = c->authPlain(user, password);
    EXPECT_EQ(no.code, 535) << user << ": " << no;
    EXPECT_EQ(no.enhanced(), "5.7.8");
    EXPECT_EQ(c->command("MAIL FROM:<" + user + "@example.test>").code, 530);
  }
  // The directory goes away: a temporary failure, and a just-verified login still works.
  slapd_->stop();
  {
    auto c = client(relay);
    const SmtpReply later = c->authPlain("twin", "twin secret");
    EXPECT_EQ(later.code, 454) << later;
    EXPECT_EQ(later.enhanced(), "4.7.0");
    const SmtpReply cached = c->authPlain("alice", "alice's secret");
    EXPECT_EQ(cached.code, 235) << cached;
  }
  const std::string log = readFile(relay.logFile());
  EXPECT_NE(log.find("event=auth_failed client=127.0.0.1 user=bob"), std::string::npos) << log;
  EXPECT_NE(log.find("not a member of required_group"), std::string::npos) << log;
  EXPECT_NE(log.find("event=auth_unavailable client=127.0.0.1 user=twin"), std::string::npos)
      << log;
  EXPECT_NE(log.find("source=\"ldap (cached)\""), std::string::npos) << log;
  for (const char* secret : {"alice's secret", "bob's secret", TestSlapd::kServicePassword}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << "a password reached the log: " << secret;
  }
}

}  // namespace
}  // namespace relayguard::test
