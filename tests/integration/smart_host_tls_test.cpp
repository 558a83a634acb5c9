// smart_host_tls_test: the real relay delivering to smart hosts that want TLS and AUTH (the
// scripted test server with a certificate from a throw-away CA): STARTTLS + AUTH and implicit
// TLS deliver; a wrong certificate name, a missing STARTTLS on a -required route and a wrong
// password defer (listed with the reason in `queue list`), never fall back to plaintext and
// never bounce; the password appears in no log, queue listing or audit line; `check` refuses a
// password file others can read.
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/relay_harness.hpp"
#include "tests/support/scripted_smtp_server.hpp"
#include "tests/support/test_certificates.hpp"

namespace relayguard::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* kUser = "relay-user";
constexpr const char* kPassword = "Integ-S3cret-pw";

class SmartHostTlsTest : public IntegrationTest {
 protected:
  void SetUp() override {
    password_file_ = dir_.write("smarthost.pw", std::string(kPassword) + "\n");
    fs::permissions(password_file_, fs::perms::owner_read | fs::perms::owner_write);
  }

  // Wants STARTTLS and then AUTH before MAIL; AUTH PLAIN and LOGIN are offered only over TLS.
  ScriptedSmtpPolicy tlsAuthHost(const TestCertificate& cert) const {
    ScriptedSmtpPolicy p;
    p.tls_certificate = cert.certificate;
    p.tls_private_key = cert.private_key;
    p.auth_mechanisms = {"PLAIN", "LOGIN"};
    p.users = {{kUser, kPassword}};
    p.require_tls = true;
    p.require_auth = true;
    return p;
  }

  RelayOptions options(const ScriptedSmtpServer& host, const std::string& tls,
                       bool credentials = true) const {
    RelayOptions o;
    o.smart_hosts = {host.address()};
    o.route = {"tls = \"" + tls + "\""};
    if (tls != "none" && tls != "starttls") {
      o.route.push_back("ca_file = \"" + ca_.caFile().string() + "\"");
    }
    if (credentials) {
      o.route.push_back("username = \"" + std::string(kUser) + "\"");
      o.route.push_back("password_file = \"" + password_file_.string() + "\"");
    }
    o.serve_args = {"--log-level", "debug"};  // the most verbose log must not leak either
    return o;
  }

  SmtpTransaction sendOne(Relay& relay, const std::string& subject) {
    const auto t = relay.send(
        "app@origin.test", {"user@dest.test"},
        makeMessage("app@origin.test", "user@dest.test", subject, "body of " + subject + "\r\n"));
    EXPECT_EQ(t.final.code, 250) << t.final;
    return t;
  }

  // Waits until the only queued message has had an attempt; returns its last_error.
  std::string lastErrorAfterAttempt(Relay& relay) {
    std::string last_error;
    const bool attempted = waitUntil(
        [&] {
          const auto list = relay.queueList();
          if (list.size() != 1 || list[0].at("attempts").get<int>() < 1) {
            return false;
          }
          last_error = list[0].at("last_error").get<std::string>();
          return true;
        },
        15s);
    EXPECT_TRUE(attempted) << relay.queueList().dump(2);
    return last_error;
  }

  // The password, and the AUTH PLAIN token carrying it, appear nowhere the relay writes.
  void expectNoCredentialsIn(const Relay& relay) {
    std::vector<std::string> places = {readFile(relay.logFile()),
                                       relay.cli({"queue", "list", "--json"}).out};
    for (const auto& entry : fs::recursive_directory_iterator(relay.spoolDir())) {
      if (entry.is_regular_file()) {
        places.push_back(readFile(entry.path()));
      }
    }
    for (const auto& text : places) {
      EXPECT_EQ(text.find(kPassword), std::string::npos);
      EXPECT_EQ(text.find("AUTH PLAIN "), std::string::npos);
      // base64("\0relay-user\0Integ-S3cret-pw") starts with this.
      EXPECT_EQ(text.find("AHJlbGF5LXVzZXIASW50ZWct"), std::string::npos);
    }
  }

  fs::path password_file_;
  TestCa ca_{dir_.path()};
  TestCertificate good_ = ca_.issue("smarthost", {"localhost"}, {"127.0.0.1"});
};

TEST_F(SmartHostTlsTest, DeliversToStartTlsAuthSmartHost) {
  ScriptedSmtpServer host(tlsAuthHost(good_));
  Relay& relay = startRelay(options(host, "starttls-required"));

  sendOne(relay, "over starttls");

  ASSERT_TRUE(host.waitForMessages(1, 15s)) << readFile(relay.logFile());
  const auto t = host.transactions().at(0);
  EXPECT_TRUE(t.tls);
  EXPECT_EQ(t.auth_user, kUser);
  EXPECT_EQ(t.rcpt_to, std::vector<std::string>{"user@dest.test"});
  EXPECT_NE(t.data.find("Subject: over starttls"), std::string::npos) << t.data;
  EXPECT_NE(t.data.find("body of over starttls\r\n"), std::string::npos) << t.data;
  const auto auths = host.authAttempts();
  ASSERT_EQ(auths.size(), 1U);
  EXPECT_TRUE(auths[0].tls);
  EXPECT_EQ(auths[0].password, kPassword);
  EXPECT_TRUE(relay.waitForQueueSize(0, 10s));
  EXPECT_NE(readFile(relay.logFile()).find("verified=true name=127.0.0.1"), std::string::npos);
  expectNoCredentialsIn(relay);
}

TEST_F(SmartHostTlsTest, DeliversOverImplicitTls) {
  auto policy = tlsAuthHost(good_);
  policy.implicit_tls = true;
  ScriptedSmtpServer host(policy);
  Relay& relay = startRelay(options(host, "tls"));

  sendOne(relay, "over implicit tls");

  ASSERT_TRUE(host.waitForMessages(1, 15s)) << readFile(relay.logFile());
  const auto t = host.transactions().at(0);
  EXPECT_TRUE(t.tls);
  EXPECT_EQ(t.auth_user, kUser);
  EXPECT_NE(t.data.find("Subject: over implicit tls"), std::string::npos);
  EXPECT_EQ(host.commandCount("STARTTLS"), 0U);
  EXPECT_TRUE(relay.waitForQueueSize(0, 10s));
}

TEST_F(SmartHostTlsTest, WrongCertificateNameDefersWithoutPlaintextFallback) {
  const auto wrong = ca_.issue("wrong", {"other.test"});
  auto policy = tlsAuthHost(wrong);
  policy.require_tls = false;  // this server would even take plaintext mail
  policy.require_auth = false;
  ScriptedSmtpServer host(policy);
  Relay& relay = startRelay(options(host, "starttls-required"));

  sendOne(relay, "must not arrive");
  const std::string last_error = lastErrorAfterAttempt(relay);

  EXPECT_NE(last_error.find("421 4.7.5"), std::string::npos) << last_error;
  EXPECT_NE(last_error.find("IP address mismatch"), std::string::npos) << last_error;
  EXPECT_EQ(host.commandCount("MAIL"), 0U);
  EXPECT_TRUE(host.transactions().empty());
  EXPECT_TRUE(host.authAttempts().empty()) << "credentials went to an unverified server";
  EXPECT_EQ(relay.queueList().size(), 1U) << "deferred, not bounced";
  expectNoCredentialsIn(relay);
}

TEST_F(SmartHostTlsTest, RequiredStartTlsNotOfferedDefers) {
  ScriptedSmtpServer host;  // no certificate: STARTTLS is not offered
  Relay& relay = startRelay(options(host, "starttls-required", false));

  sendOne(relay, "must not arrive either");
  const std::string last_error = lastErrorAfterAttempt(relay);

  EXPECT_NE(last_error.find("421 4.7.4"), std::string::npos) << last_error;
  EXPECT_NE(last_error.find("does not offer STARTTLS"), std::string::npos) << last_error;
  EXPECT_EQ(host.commandCount("MAIL"), 0U);
  EXPECT_TRUE(host.transactions().empty());
}

TEST_F(SmartHostTlsTest, OpportunisticStartTlsDeliversInPlaintextWhenNotOffered) {
  ScriptedSmtpServer host;
  Relay& relay = startRelay(options(host, "starttls", false));

  sendOne(relay, "plaintext is fine here");

  ASSERT_TRUE(host.waitForMessages(1, 15s)) << readFile(relay.logFile());
  EXPECT_FALSE(host.transactions().at(0).tls);
  EXPECT_TRUE(relay.waitForQueueSize(0, 10s));
  EXPECT_NE(readFile(relay.logFile()).find("event=smtp_plaintext relay=127.0.0.1:"),
            std::string::npos);
}

TEST_F(SmartHostTlsTest, WrongPasswordDefersInsteadOfBouncing) {
  auto policy = tlsAuthHost(good_);
  policy.users = {{kUser, "not-what-the-relay-has"}};
  ScriptedSmtpServer host(policy);
  Relay& relay = startRelay(options(host, "starttls-required"));

  sendOne(relay, "waits for the right password");
  const std::string last_error = lastErrorAfterAttempt(relay);

  EXPECT_NE(last_error.find("454 4.7.0"), std::string::npos) << last_error;
  EXPECT_NE(last_error.find("535 5.7.8"), std::string::npos) << last_error;
  ASSERT_GE(host.authAttempts().size(), 1U);
  EXPECT_EQ(host.authAttempts()[0].password, kPassword);
  EXPECT_TRUE(host.transactions().empty());
  // Still queued for a later attempt; no bounce went back to the sender.
  const auto list = relay.queueList();
  ASSERT_EQ(list.size(), 1U) << list.dump(2);
  EXPECT_EQ(list[0].at("mail_from").get<std::string>(), "app@origin.test");
  EXPECT_EQ(list[0].at("recipients")[0].at("status").get<std::string>(), "pending");
  expectNoCredentialsIn(relay);
}

TEST_F(SmartHostTlsTest, CheckRefusesAPasswordFileOthersCanRead) {
  ScriptedSmtpServer host;
  Relay& relay = makeRelay(options(host, "starttls-required"));
  ASSERT_EQ(relay.cli({"check"}).exit_status, 0) << relay.cli({"check"}).err;

  fs::permissions(password_file_, fs::perms::owner_read | fs::perms::owner_write |
                                      fs::perms::group_read | fs::perms::others_read);
  const auto check = relay.cli({"check"});
  EXPECT_EQ(check.exit_status, 1);
  EXPECT_NE(check.err.find(relay.configFile().string() + ":"), std::string::npos) << check.err;
  EXPECT_NE(check.err.find("password_file: " + password_file_.string() +
                           " is accessible by group or others"),
            std::string::npos)
      << check.err;
  EXPECT_EQ(check.err.find(kPassword), std::string::npos);
  // serve refuses to start the same way.
  const auto serve = relay.cli({"serve"});
  EXPECT_EQ(serve.exit_status, 1);
  EXPECT_NE(serve.err.find("accessible by group or others"), std::string::npos) << serve.err;
}

}  // namespace
}  // namespace relayguard::test
