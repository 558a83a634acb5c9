// tls_auth_test: TLS and SMTP AUTH on the real relay over loopback, with real handshakes against
// a certificate made by the test (tests/support/test_certificates.hpp): STARTTLS on relay and
// submission listeners, implicit TLS on smtps, AUTH PLAIN/LOGIN and their RFC 4954 replies,
// AUTH not offered in the clear, MAIL before AUTH refused on submission, the STARTTLS command
// injection (CVE-2011-0411), brute-force delays and lockout, the per-user rate limit, the
// users file commands, the certificate reload on SIGHUP, and Python's smtplib and swaks as
// independent clients.
#include <csignal>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/util/base64.hpp"
#include "tests/integration/relay_harness.hpp"
#include "tests/support/test_certificates.hpp"

namespace relayguard::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kPassword = "correct horse battery staple";

class TlsAuthTest : public IntegrationTest {
 protected:
  // A relay with a relay listener (port()), a submission listener (listenerPort(0)) and an
  // smtps listener (listenerPort(1)), the test CA's certificate, a users file with alice, and a
  // sink as its smart host.
  Relay& startTlsRelay(RelayOptions o = {}) {
    const auto pki = dir_.path() / "pki";
    std::filesystem::create_directories(pki);
    TestCa ca(pki);
    ca_file_ = ca.caFile();
    leaf_ = ca.issue("relay", {"localhost"}, {"127.0.0.1"});
    sink_ = &startSink(freeLoopbackPort());
    o.smart_hosts = {"127.0.0.1:" + std::to_string(sink_->port())};
    o.extra_listeners = {"submission", "smtps"};
    o.access.insert(o.access.begin(), "users_file = \"users\"");
    o.extra_config.push_back("[tls]");
    o.extra_config.push_back("certificate = \"" + leaf_.certificate.string() + "\"");
    o.extra_config.push_back("private_key = \"" + leaf_.private_key.string() + "\"");
    Relay& relay = makeRelay(std::move(o));
    const auto added = addUser(relay, "alice", std::string(kPassword) + "\n");
    EXPECT_EQ(added.exit_status, 0) << added.err;
    relay.start();
    return relay;
  }

  static CommandResult addUser(const Relay& relay, const std::string& name,
                               const std::string& input) {
    return runCommand(relayguardBinary(),
                      {"user", "add", name, "--config", relay.configFile().string()}, 20s, input);
  }

  // Connected, greeted, EHLO'd, STARTTLS'd and EHLO'd again.
  std::unique_ptr<SmtpTestClient> tlsClient(std::uint16_t port) {
    auto c = std::make_unique<SmtpTestClient>();
    EXPECT_TRUE(c->connect("127.0.0.1", port)) << c->lastError();
    EXPECT_TRUE(c->greetAndEhlo()) << c->lastError();
    EXPECT_TRUE(c->startTls(ca_file_)) << c->lastError();
    EXPECT_EQ(c->command("EHLO client.test").code, 250);
    return c;
  }

  // Connected with implicit TLS, greeted and EHLO'd.
  std::unique_ptr<SmtpTestClient> smtpsClient(std::uint16_t port) {
    auto c = std::make_unique<SmtpTestClient>();
    EXPECT_TRUE(c->connect("127.0.0.1", port)) << c->lastError();
    EXPECT_TRUE(c->handshake(ca_file_, "127.0.0.1")) << c->lastError();
    EXPECT_TRUE(c->greetAndEhlo()) << c->lastError();
    return c;
  }

  std::filesystem::path ca_file_;
  TestCertificate leaf_;
  Sink* sink_ = nullptr;
};

bool hasLine(const SmtpReply& r, const std::string& line) {
  return std::find(r.lines.begin(), r.lines.end(), line) != r.lines.end();
}

std::string b64(const std::string& s) {
  return encodeBase64(s);
}

// command_timeout holds inside TLS too: a client silent after STARTTLS, or after the implicit
// TLS handshake, gets 421 4.4.2 (encrypted) and the connection is closed.
TEST_F(TlsAuthTest, SilentSessionsOverTlsTimeOut) {
  RelayOptions o;
  o.limits = {"command_timeout = \"1s\""};
  Relay& relay = startTlsRelay(std::move(o));
  for (const bool implicit : {false, true}) {
    auto c = implicit ? smtpsClient(relay.listenerPort(1)) : tlsClient(relay.listenerPort(0));
    const auto start = std::chrono::steady_clock::now();
    const SmtpReply timeout = c->readReply(5s);
    const auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(timeout.code, 421) << (implicit ? "smtps: " : "starttls: ") << timeout;
    EXPECT_EQ(timeout.enhanced(), "4.4.2") << timeout;
    EXPECT_GE(waited, 800ms);
    EXPECT_LE(waited, 4s);
    EXPECT_TRUE(c->waitForClose(2s));
  }
}

// A handshake is bounded by command_timeout too: a client that never sends its ClientHello,
// after STARTTLS's 220 or on the implicit TLS port, is disconnected once it has passed.
TEST_F(TlsAuthTest, HandshakesThatNeverStartTimeOut) {
  RelayOptions o;
  o.limits = {"command_timeout = \"1s\""};
  Relay& relay = startTlsRelay(std::move(o));
  for (const bool implicit : {false, true}) {
    SmtpTestClient c;
    ASSERT_TRUE(c.connect("127.0.0.1", relay.listenerPort(implicit ? 1 : 0))) << c.lastError();
    if (!implicit) {
      ASSERT_TRUE(c.greetAndEhlo()) << c.lastError();
      ASSERT_EQ(c.command("STARTTLS").code, 220);
    }
    const auto start = Clock::now();
    EXPECT_TRUE(c.waitForClose(5s)) << (implicit ? "smtps" : "starttls");
    const auto waited = Clock::now() - start;
    EXPECT_GE(waited, 800ms);
    EXPECT_LE(waited, 4s);
  }
  EXPECT_TRUE(relay.process().waitForLog("handshake timed out", 1s)) << relay.process().log();
}

TEST_F(TlsAuthTest, SubmissionNeedsStartTlsThenAuthAndRecordsTheUser) {
  Relay& relay = startTlsRelay();
  SmtpTestClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", relay.listenerPort(0)));
  ASSERT_EQ(c.readReply().code, 220);
  const SmtpReply clear_ehlo = c.command("EHLO client.test");
  EXPECT_TRUE(hasLine(clear_ehlo, "STARTTLS")) << clear_ehlo;
  EXPECT_FALSE(hasLine(clear_ehlo, "AUTH PLAIN LOGIN")) << "AUTH offered in the clear";
  const SmtpReply clear_auth = c.authPlain("alice", kPassword);
  EXPECT_EQ(clear_auth.code, 538) << clear_auth;
  EXPECT_EQ(clear_auth.enhanced(), "5.7.11");
  const SmtpReply clear_mail = c.command("MAIL FROM:<alice@app.test>");
  EXPECT_EQ(clear_mail.code, 530) << clear_mail;
  EXPECT_EQ(clear_mail.enhanced(), "5.7.0");

  ASSERT_TRUE(c.startTls(ca_file_)) << c.lastError();
  // The session starts over: EHLO again, and now AUTH is offered and STARTTLS is not.
  EXPECT_EQ(c.command("MAIL FROM:<alice@app.test>").code, 503);
  const SmtpReply ehlo = c.command("EHLO client.test");
  EXPECT_TRUE(hasLine(ehlo, "AUTH PLAIN LOGIN")) << ehlo;
  EXPECT_FALSE(hasLine(ehlo, "STARTTLS")) << ehlo;
  EXPECT_EQ(c.command("MAIL FROM:<alice@app.test>").code, 530);
  const SmtpReply wrong = c.authPlain("alice", "wrong password");
  EXPECT_EQ(wrong.code, 535) << wrong;
  EXPECT_EQ(wrong.enhanced(), "5.7.8");
  const SmtpReply ok = c.authPlain("alice", kPassword);
  EXPECT_EQ(ok.code, 235) << ok;
  EXPECT_EQ(ok.enhanced(), "2.7.0");
  const SmtpReply twice = c.authPlain("alice", kPassword);
  EXPECT_EQ(twice.code, 503) << twice;
  const auto t = c.sendMail("alice@app.test", {"bob@ext.test"},
                            makeMessage("alice@app.test", "bob@ext.test", "submitted", "hello"));
  ASSERT_TRUE(t.accepted()) << t.final;
  c.command("QUIT");

  ASSERT_TRUE(sink_->waitForMessages(1, 10s));
  const std::string stored = sink_->messages().front();
  EXPECT_NE(stored.find("with ESMTPSA id " + t.queueId()), std::string::npos) << stored;
  EXPECT_EQ(stored.find(kPassword), std::string::npos);
  // The audit log names the user.
  std::string audit;
  for (const auto& f : std::filesystem::directory_iterator(relay.spoolDir() / "audit")) {
    audit += readFile(f.path());
  }
  EXPECT_NE(audit.find("\"auth_user\":\"alice\""), std::string::npos) << audit;
  const std::string log = readFile(relay.logFile());
  EXPECT_NE(log.find("event=auth_failed client=127.0.0.1 user=alice"), std::string::npos) << log;
  EXPECT_EQ(log.find(kPassword), std::string::npos) << "a password reached the log";
  EXPECT_EQ(log.find(b64(std::string(1, '\0') + "alice" + std::string(1, '\0') + kPassword)),
            std::string::npos);
}

TEST_F(TlsAuthTest, SmtpsIsTlsFromTheFirstByteWithAuthLogin) {
  Relay& relay = startTlsRelay();
  auto c = smtpsClient(relay.listenerPort(1));
  EXPECT_FALSE(c->tlsVersion().empty());
  EXPECT_NE(c->tlsVersion(), "TLSv1.1");
  EXPECT_EQ(c->command("MAIL FROM:<alice@app.test>").code, 530);
  const SmtpReply user_prompt = c->command("AUTH LOGIN");
  ASSERT_EQ(user_prompt.code, 334) << user_prompt;
  EXPECT_EQ(user_prompt.lines.front(), b64("Username:"));
  const SmtpReply pass_prompt = c->command(b64("alice"));
  ASSERT_EQ(pass_prompt.code, 334) << pass_prompt;
  EXPECT_EQ(pass_prompt.lines.front(), b64("Password:"));
  const SmtpReply ok = c->command(b64(kPassword));
  EXPECT_EQ(ok.code, 235) << ok;
  const auto t = c->sendMail("alice@app.test", {"bob@ext.test"},
                             makeMessage("alice@app.test", "bob@ext.test", "smtps", "hi"));
  EXPECT_TRUE(t.accepted()) << t.final;

  // A client speaking plain SMTP to the smtps port gets no greeting and is dropped.
  SmtpTestClient plain;
  ASSERT_TRUE(plain.connect("127.0.0.1", relay.listenerPort(1)));
  plain.sendRaw("EHLO plain.test\r\n");
  EXPECT_TRUE(plain.waitForClose(5s));
  EXPECT_EQ(plain.pending().find("220"), std::string::npos);
}

TEST_F(TlsAuthTest, AuthExchangeErrorsFollowRfc4954) {
  RelayOptions o;
  o.relay_networks = {"10.0.0.0/8"};  // loopback clients may relay only after AUTH
  Relay& relay = startTlsRelay(o);
  // Relay listener: no relaying for an outsider in the clear, AUTH refused before TLS.
  auto plain = relay.client();
  EXPECT_EQ(plain->command("MAIL FROM:<x@app.test>").code, 250);
  EXPECT_EQ(plain->command("RCPT TO:<bob@ext.test>").code, 554);
  EXPECT_EQ(plain->command("AUTH PLAIN =").code, 538);

  auto c = tlsClient(relay.port());
  const SmtpReply cancel_prompt = c->command("AUTH PLAIN");
  ASSERT_EQ(cancel_prompt.code, 334);
  const SmtpReply cancelled = c->command("*");
  EXPECT_EQ(cancelled.code, 501) << cancelled;
  EXPECT_EQ(cancelled.enhanced(), "5.0.0");
  const SmtpReply undecodable = c->command("AUTH PLAIN not*base64!");
  EXPECT_EQ(undecodable.code, 501) << undecodable;
  EXPECT_EQ(undecodable.enhanced(), "5.5.2");
  const SmtpReply login_bad = c->command("AUTH LOGIN");
  ASSERT_EQ(login_bad.code, 334);
  EXPECT_EQ(c->command("%%%%").code, 501);
  EXPECT_EQ(c->command("AUTH CRAM-MD5").code, 504);
  const SmtpReply other_identity =
      c->command("AUTH PLAIN " + b64(std::string("mallory") + '\0' + "alice" + '\0' + kPassword));
  EXPECT_EQ(other_identity.code, 535) << other_identity;
  // AUTH inside a transaction: 503.
  EXPECT_EQ(c->command("MAIL FROM:<alice@app.test>").code, 250);
  EXPECT_EQ(c->authPlain("alice", kPassword).code, 503);
  EXPECT_EQ(c->command("RCPT TO:<bob@ext.test>").code, 554);
  EXPECT_EQ(c->command("RSET").code, 250);
  // Authenticated: relaying is allowed from outside relay_networks.
  const SmtpReply login = c->command("AUTH LOGIN " + b64("alice"));
  ASSERT_EQ(login.code, 334) << login;
  EXPECT_EQ(c->command(b64(kPassword)).code, 235);
  const auto t = c->sendMail("alice@app.test", {"bob@ext.test"},
                             makeMessage("alice@app.test", "bob@ext.test", "relayed", "ok"));
  EXPECT_TRUE(t.accepted()) << t.final;
}

TEST_F(TlsAuthTest, StartTlsInjectionIsDiscardedAndTheSessionReset) {
  Relay& relay = startTlsRelay();
  SmtpTestClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", relay.port()));
  ASSERT_TRUE(c.greetAndEhlo());
  // Commands pipelined in the clear behind STARTTLS (CVE-2011-0411): a vulnerable server runs
  // them as if they had come through TLS.
  ASSERT_TRUE(c.sendRaw("STARTTLS\r\nEHLO evil.test\r\nMAIL FROM:<evil@evil.test>\r\n"));
  const SmtpReply ready = c.readReply();
  ASSERT_EQ(ready.code, 220) << ready;
  ASSERT_TRUE(c.handshake(ca_file_)) << c.lastError();
  // The first reply through TLS answers this RCPT: the injected EHLO and MAIL are gone.
  const SmtpReply rcpt = c.command("RCPT TO:<bob@ext.test>");
  EXPECT_EQ(rcpt.code, 503) << rcpt;
  const SmtpReply mail = c.command("MAIL FROM:<alice@app.test>");
  EXPECT_EQ(mail.code, 503) << "EHLO from before TLS still counted: " << mail;
  const SmtpReply ehlo = c.command("EHLO client.test");
  EXPECT_EQ(ehlo.code, 250);
  EXPECT_GT(ehlo.lines.size(), 1U);
  EXPECT_EQ(c.readReply(300ms).code, 0) << "an extra reply arrived";
  EXPECT_NE(readFile(relay.logFile()).find("event=starttls_discarded"), std::string::npos);
  // STARTTLS twice is refused.
  EXPECT_EQ(c.command("STARTTLS").code, 503);
}

TEST_F(TlsAuthTest, FailedAuthIsSlowedThenLockedOut) {
  RelayOptions o;
  o.access = {"auth_failures_before_delay = 2", "auth_failure_delay = \"1s\"",
              "auth_lockout_failures = 4", "auth_lockout = \"1h\""};
  Relay& relay = startTlsRelay(o);
  auto c = tlsClient(relay.listenerPort(0));
  std::vector<double> seconds;
  for (int i = 0; i < 4; ++i) {
    const auto start = Clock::now();
    const SmtpReply r = c->authPlain("alice", "guess" + std::to_string(i));
    seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    EXPECT_EQ(r.code, 535) << "attempt " << i << ": " << r;
  }
  std::cout << "failure reply times (s):";
  for (double s : seconds) {
    std::cout << " " << s;
  }
  std::cout << "\n";
  // The first failure costs only the argon2id check; each later one waits 1 s longer.
  EXPECT_LT(seconds[0], seconds[2] - 1.0);
  EXPECT_GE(seconds[1], 0.95);
  EXPECT_GE(seconds[2], 1.95);
  EXPECT_GE(seconds[3], 2.95);
  // Locked out: even the right password is refused, at once, on any connection.
  const SmtpReply locked = c->authPlain("alice", kPassword);
  EXPECT_EQ(locked.code, 454) << locked;
  EXPECT_EQ(locked.enhanced(), "4.7.0");
  auto other = smtpsClient(relay.listenerPort(1));
  const auto start = Clock::now();
  EXPECT_EQ(other->authPlain("alice", kPassword).code, 454);
  EXPECT_LT(Clock::now() - start, 500ms);
  const std::string log = readFile(relay.logFile());
  EXPECT_NE(log.find("event=auth_lockout client=127.0.0.1"), std::string::npos) << log;
  EXPECT_EQ(log.find("guess1"), std::string::npos) << "a password reached the log";
}

TEST_F(TlsAuthTest, PerUserRateLimit) {
  RelayOptions o;
  o.access = {"user_messages_per_minute = 2"};
  Relay& relay = startTlsRelay(o);
  auto c = tlsClient(relay.listenerPort(0));
  ASSERT_EQ(c->authPlain("alice", kPassword).code, 235);
  for (int i = 0; i < 2; ++i) {
    const auto t = c->sendMail("alice@app.test", {"bob@ext.test"},
                               makeMessage("alice@app.test", "bob@ext.test", "n", "x"));
    EXPECT_TRUE(t.accepted()) << t.final;
  }
  const SmtpReply third = c->command("MAIL FROM:<alice@app.test>");
  EXPECT_EQ(third.code, 450) << third;
  EXPECT_EQ(third.enhanced(), "4.7.1");
}

TEST_F(TlsAuthTest, UsersFileCommandsAndPermissions) {
  Relay& relay = startTlsRelay();
  const auto users = relay.configFile().parent_path() / "users";
  struct stat st {};
  ASSERT_EQ(::stat(users.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  const std::string content = readFile(users);
  EXPECT_NE(content.find("alice:$argon2id$v=19$"), std::string::npos) << content;
  EXPECT_EQ(content.find(kPassword), std::string::npos);

  // A user added while the relay runs can authenticate at once (the file's change is noticed).
  ASSERT_EQ(addUser(relay, "bob@app.test", "bobs password\n").exit_status, 0);
  auto c = smtpsClient(relay.listenerPort(1));
  EXPECT_EQ(c->authPlain("bob@app.test", "bobs password").code, 235);
  // Changing a password replaces the old hash; delete removes the user.
  ASSERT_EQ(addUser(relay, "alice", "new password").exit_status, 0);
  auto c2 = smtpsClient(relay.listenerPort(1));
  EXPECT_EQ(c2->authPlain("alice", kPassword).code, 535);
  EXPECT_EQ(c2->authPlain("alice", "new password").code, 235);
  EXPECT_EQ(relay.cli({"user", "delete", "alice"}).exit_status, 0);
  const auto missing = relay.cli({"user", "delete", "alice"});
  EXPECT_EQ(missing.exit_status, 1);
  EXPECT_NE(missing.err.find("no user 'alice'"), std::string::npos) << missing.err;
  EXPECT_EQ(addUser(relay, "bad:name", "x").exit_status, 1);
  EXPECT_EQ(addUser(relay, "carol", "").exit_status, 1);

  // A users file readable by others is refused by every command and by serve.
  ::chmod(users.c_str(), 0644);
  const auto refused = addUser(relay, "dave", "pw");
  EXPECT_EQ(refused.exit_status, 1);
  EXPECT_NE(refused.err.find("readable or writable by group or others"), std::string::npos)
      << refused.err;
  EXPECT_EQ(relay.cli({"check"}).exit_status, 1);
  ASSERT_EQ(relay.terminate(10s).value_or(-1), 0);
  const auto serve =
      runCommand(relayguardBinary(), {"serve", "--config", relay.configFile().string()}, 10s);
  EXPECT_EQ(serve.exit_status, 1);
  EXPECT_NE(serve.err.find(users.string() + ": the users file is readable"), std::string::npos)
      << serve.err;
}

TEST_F(TlsAuthTest, CertificateReloadedOnSighupAndABadOneRefused) {
  Relay& relay = startTlsRelay();
  const auto other_pki = dir_.path() / "pki2";
  std::filesystem::create_directories(other_pki);
  TestCa other_ca(other_pki);
  const auto fresh = other_ca.issue("fresh", {"localhost"}, {"127.0.0.1"});

  // An invalid certificate: refused, the one in force stays.
  const std::string good_cert = readFile(leaf_.certificate);
  std::ofstream(leaf_.certificate, std::ios::trunc) << "not a certificate\n";
  relay.process().signal(SIGHUP);
  ASSERT_TRUE(relay.process().waitForLog("event=tls_certificate_reload_refused", 10s));
  auto still = smtpsClient(relay.listenerPort(1));
  EXPECT_TRUE(still->secure());

  // A new certificate from another CA: served after SIGHUP.
  std::filesystem::copy_file(fresh.certificate, leaf_.certificate,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(fresh.private_key, leaf_.private_key,
                             std::filesystem::copy_options::overwrite_existing);
  relay.process().signal(SIGHUP);
  ASSERT_TRUE(relay.process().waitForLog("event=tls_certificate_reloaded", 10s));
  SmtpTestClient old_trust;
  ASSERT_TRUE(old_trust.connect("127.0.0.1", relay.listenerPort(1)));
  EXPECT_FALSE(old_trust.handshake(ca_file_)) << "still the old certificate";
  SmtpTestClient new_trust;
  ASSERT_TRUE(new_trust.connect("127.0.0.1", relay.listenerPort(1)));
  EXPECT_TRUE(new_trust.handshake(other_ca.caFile())) << new_trust.lastError();
  EXPECT_EQ(new_trust.readReply().code, 220);
  (void)good_cert;
}

// Python's smtplib, an independent client: starttls() + login() on submission, SMTP_SSL +
// login() on smtps, both verifying the certificate against the test CA.
TEST_F(TlsAuthTest, PythonSmtplibSubmitsOverStartTlsAndImplicitTls) {
  Relay& relay = startTlsRelay();
  const auto script = dir_.write("submit.py", R"(import smtplib, ssl, sys
port_587, port_465, ca, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
msg = "From: alice@app.test\r\nTo: bob@ext.test\r\nSubject: smtplib\r\n\r\nhello\r\n"
ctx = ssl.create_default_context(cafile=ca)
with smtplib.SMTP("127.0.0.1", port_587, timeout=10) as s:
    s.ehlo()
    assert not s.has_extn("auth"), "AUTH offered before TLS"
    s.starttls(context=ctx)
    s.ehlo()
    s.login("alice", password)
    s.sendmail("alice@app.test", ["bob@ext.test"], msg)
with smtplib.SMTP_SSL("127.0.0.1", port_465, context=ctx, timeout=10) as s:
    s.login("alice", password)
    s.sendmail("alice@app.test", ["bob@ext.test"], msg)
try:
    with smtplib.SMTP_SSL("127.0.0.1", port_465, context=ctx, timeout=10) as s:
        s.login("alice", "wrong")
    sys.exit("a wrong password was accepted")
except smtplib.SMTPAuthenticationError as e:
    assert e.smtp_code == 535, e
# TLS 1.1 (allowed on the client side here) is refused by the relay.
old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
old.load_verify_locations(ca)
old.set_ciphers("ALL:@SECLEVEL=0")
old.minimum_version = ssl.TLSVersion.TLSv1
old.maximum_version = ssl.TLSVersion.TLSv1_1
try:
    smtplib.SMTP_SSL("127.0.0.1", port_465, context=old, timeout=10)
    sys.exit("TLS 1.1 was accepted")
except ssl.SSLError:
    pass
print("ok")
)");
  const auto r = runCommand(
      "/usr/bin/python3",
      {"-W", "ignore::DeprecationWarning", script.string(), std::to_string(relay.listenerPort(0)),
       std::to_string(relay.listenerPort(1)), ca_file_.string(), kPassword},
      30s);
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("ok"), std::string::npos);
  EXPECT_TRUE(sink_->waitForMessages(2, 10s));
  // The server, not only the client, refused TLS 1.1.
  const std::string log = readFile(relay.logFile());
  const auto failed = log.find("event=tls_handshake_failed client=127.0.0.1 ");
  ASSERT_NE(failed, std::string::npos) << log;
  EXPECT_NE(log.substr(failed, log.find('\n', failed) - failed).find("unsupported protocol"),
            std::string::npos)
      << log;
}

TEST_F(TlsAuthTest, SwaksSubmitsOverStartTlsAndImplicitTls) {
  Relay& relay = startTlsRelay();
  auto swaks = [&](std::uint16_t port, const std::string& tls_flag) {
    return runCommand(
        "/usr/bin/swaks",
        {"--server", "127.0.0.1:" + std::to_string(port), tls_flag, "--tls-verify", "--tls-ca-path",
         ca_file_.string(), "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", kPassword,
         "--from", "alice@app.test", "--to", "bob@ext.test", "--timeout", "10"},
        30s);
  };
  const auto starttls = swaks(relay.listenerPort(0), "--tls");
  EXPECT_EQ(starttls.exit_status, 0) << starttls.out << starttls.err;
  EXPECT_NE(starttls.out.find("235 2.7.0"), std::string::npos) << starttls.out;
  const auto implicit = swaks(relay.listenerPort(1), "--tls-on-connect");
  EXPECT_EQ(implicit.exit_status, 0) << implicit.out << implicit.err;
  EXPECT_NE(implicit.out.find("235 2.7.0"), std::string::npos) << implicit.out;
  EXPECT_TRUE(sink_->waitForMessages(2, 10s));
}

}  // namespace
}  // namespace relayguard::test
