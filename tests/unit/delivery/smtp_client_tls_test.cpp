// smtp_client_tls_test: the outbound SMTP client towards smart hosts that want TLS and AUTH:
// STARTTLS (required and opportunistic), implicit TLS, certificate checks, AUTH PLAIN/LOGIN,
// and that no failure ever ends in plaintext delivery or a leaked password. The peer is the
// scripted test server with a certificate from a throw-away CA made at test time.
#include <chrono>
#include <cstdlib>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/strand.hpp>
#include <asio/use_future.hpp>
#include <gtest/gtest.h>

#include "core/delivery/route_security.hpp"
#include "core/delivery/smtp_client.hpp"
#include "tests/support/scripted_smtp_server.hpp"
#include "tests/support/silent_listener.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_certificates.hpp"

namespace relayguard::delivery {
namespace {

using namespace std::chrono_literals;
using test::ScriptedSmtpPolicy;
using test::ScriptedSmtpServer;

constexpr const char* kUser = "relay-user";
constexpr const char* kPassword = "s3cret-Pa55word";

class SmtpClientTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 2; ++i) {
      threads_.emplace_back([this] { io_.run(); });
    }
  }

  void TearDown() override {
    guard_.reset();
    io_.stop();
    for (auto& t : threads_) {
      t.join();
    }
  }

  // A smart host with a certificate for localhost/127.0.0.1 from the test CA that offers
  // STARTTLS, offers AUTH PLAIN LOGIN only over TLS and wants both before MAIL.
  ScriptedSmtpPolicy tlsAuthHost() const {
    ScriptedSmtpPolicy p;
    p.tls_certificate = good_.certificate;
    p.tls_private_key = good_.private_key;
    p.auth_mechanisms = {"PLAIN", "LOGIN"};
    p.users = {{kUser, kPassword}};
    p.require_tls = true;
    p.require_auth = true;
    return p;
  }

  RouteConfig route(RouteTls tls, bool with_credentials = true) const {
    RouteConfig r;
    r.domains = {"*"};
    r.tls = tls;
    r.tls_verify = tls != RouteTls::kStartTls && tls != RouteTls::kNone;
    if (r.tls_verify) {
      r.ca_file = ca_.caFile();
    }
    if (with_credentials) {
      r.username = kUser;
      r.password = kPassword;
    }
    return r;
  }

  AttemptResult deliver(SmtpClient& client, const ScriptedSmtpServer& server,
                        const RouteConfig& route_config) {
    return deliverWith(client, server, RouteSecurity::fromRoute(route_config));
  }

  AttemptResult deliverWith(SmtpClient& client, const ScriptedSmtpServer& server,
                            std::shared_ptr<const RouteSecurity> security) {
    OutboundMessage m;
    m.mail_from = Address::parseMailbox("app@origin.test").value();
    m.recipients = {Address::parseMailbox("user@dest.test").value()};
    m.data = data_;
    const net::Endpoint endpoint{"127.0.0.1", server.port()};
    auto future = asio::co_spawn(
        asio::make_strand(io_), client.deliver(endpoint, m, std::move(security)), asio::use_future);
    if (future.wait_for(60s) != std::future_status::ready) {
      ADD_FAILURE() << "delivery did not finish within 60 s";
      std::abort();
    }
    return future.get();
  }

  ClientSettings settings() const {
    ClientSettings s;
    s.helo_name = "relay.test";
    s.connect_timeout = 5s;
    s.command_timeout = 5s;
    s.data_timeout = 5s;
    return s;
  }

  static void expectDelivered(const AttemptResult& result) {
    ASSERT_FALSE(result.session_error.has_value()) << result.session_error->oneLine();
    ASSERT_EQ(result.recipient_replies.size(), 1U);
    EXPECT_EQ(result.recipient_replies[0].code, 250) << result.recipient_replies[0].oneLine();
  }

  // Nothing of the transaction reached the server: no MAIL, no message.
  static void expectNothingSent(const ScriptedSmtpServer& server) {
    EXPECT_EQ(server.commandCount("MAIL"), 0U);
    EXPECT_TRUE(server.transactions().empty());
  }

  test::TempDir dir_;
  test::TestCa ca_{dir_.path()};
  test::TestCertificate good_ = ca_.issue("smarthost", {"localhost"}, {"127.0.0.1"});
  const std::string data_ = "Subject: over TLS\r\n\r\nconfidential body\r\n";
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_{
      io_.get_executor()};
  std::vector<std::thread> threads_;
};

TEST_F(SmtpClientTlsTest, StartTlsRequiredWithAuthPlainDelivers) {
  ScriptedSmtpServer server(tlsAuthHost());
  SmtpClient client(io_.get_executor(), settings());

  const auto result = deliver(client, server, route(RouteTls::kStartTlsRequired));

  expectDelivered(result);
  const auto transactions = server.transactions();
  ASSERT_EQ(transactions.size(), 1U);
  EXPECT_TRUE(transactions[0].tls);
  EXPECT_EQ(transactions[0].tls_version, "TLSv1.3");
  EXPECT_EQ(transactions[0].auth_user, kUser);
  EXPECT_EQ(transactions[0].data, data_);
  const auto auths = server.authAttempts();
  ASSERT_EQ(auths.size(), 1U);
  EXPECT_EQ(auths[0].mechanism, "PLAIN");
  EXPECT_EQ(auths[0].username, kUser);
  EXPECT_EQ(auths[0].password, kPassword);
  EXPECT_TRUE(auths[0].tls);
  EXPECT_TRUE(auths[0].success);
  // EHLO, STARTTLS, EHLO again over TLS (AUTH is only offered there), AUTH, then the mail.
  const auto commands = server.commands();
  ASSERT_GE(commands.size(), 5U);
  EXPECT_EQ(commands[0], "EHLO relay.test");
  EXPECT_EQ(commands[1], "STARTTLS");
  EXPECT_EQ(commands[2], "EHLO relay.test");
  EXPECT_TRUE(commands[3].starts_with("AUTH PLAIN ")) << commands[3];
  EXPECT_TRUE(commands[4].starts_with("MAIL FROM:<app@origin.test>")) << commands[4];
}

// command_timeout holds inside TLS: a smart host that goes silent after the handshake (at MAIL)
// ends the attempt with 421 4.4.2 within the timeout.
TEST_F(SmtpClientTlsTest, ASilentServerInsideTlsHitsCommandTimeout) {
  auto policy = tlsAuthHost();
  policy.command_hook = test::hangAt("MAIL");
  ScriptedSmtpServer server(policy);
  auto s = settings();
  s.command_timeout = 1s;
  SmtpClient client(io_.get_executor(), s);

  const auto started = std::chrono::steady_clock::now();
  const auto result = deliver(client, server, route(RouteTls::kStartTlsRequired));
  const auto elapsed = std::chrono::steady_clock::now() - started;

  ASSERT_TRUE(result.session_error.has_value());
  EXPECT_EQ(result.session_error->code, 421) << result.session_error->oneLine();
  EXPECT_NE(result.session_error->text.find("timed out"), std::string::npos)
      << result.session_error->text;
  EXPECT_EQ(server.commandCount("STARTTLS"), 1U);
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LT(elapsed, 4s);
}

// The handshake is bounded by command_timeout: a smart host that accepts the connection on its
// implicit TLS port and never answers the ClientHello ends the attempt within it.
TEST_F(SmtpClientTlsTest, AHandshakeWithoutAnswerTimesOut) {
  test::SilentListener host;
  auto s = settings();
  s.command_timeout = 1s;
  SmtpClient client(io_.get_executor(), s);
  OutboundMessage m;
  m.mail_from = Address::parseMailbox("app@origin.test").value();
  m.recipients = {Address::parseMailbox("user@dest.test").value()};
  m.data = data_;
  const net::Endpoint endpoint{"127.0.0.1", host.port()};

  const auto started = std::chrono::steady_clock::now();
  auto future =
      asio::co_spawn(asio::make_strand(io_),
                     client.deliver(endpoint, m, RouteSecurity::fromRoute(route(RouteTls::kTls))),
                     asio::use_future);
  ASSERT_EQ(future.wait_for(20s), std::future_status::ready) << "the handshake was not bounded";
  const auto elapsed = std::chrono::steady_clock::now() - started;
  const AttemptResult result = future.get();
  ASSERT_TRUE(result.session_error.has_value());
  EXPECT_NE(result.session_error->text.find("TLS handshake timed out"), std::string::npos)
      << result.session_error->text;
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LT(elapsed, 4s);
}

TEST_F(SmtpClientTlsTest, AuthLoginWhenPlainIsNotOffered) {
  auto policy = tlsAuthHost();
  policy.auth_mechanisms = {"LOGIN"};
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), settings());

  expectDelivered(deliver(client, server, route(RouteTls::kStartTlsRequired)));

  const auto auths = server.authAttempts();
  ASSERT_EQ(auths.size(), 1U);
  EXPECT_EQ(auths[0].mechanism, "LOGIN");
  EXPECT_EQ(auths[0].username, kUser);
  EXPECT_EQ(auths[0].password, kPassword);
  EXPECT_TRUE(auths[0].success);
}

TEST_F(SmtpClientTlsTest, ImplicitTlsDelivers) {
  auto policy = tlsAuthHost();
  policy.implicit_tls = true;
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), settings());

  expectDelivered(deliver(client, server, route(RouteTls::kTls)));

  EXPECT_EQ(server.commandCount("STARTTLS"), 0U);
  EXPECT_EQ(server.tlsHandshakes(), 1U);
  const auto transactions = server.transactions();
  ASSERT_EQ(transactions.size(), 1U);
  EXPECT_TRUE(transactions[0].tls);
  EXPECT_EQ(transactions[0].auth_user, kUser);
}

TEST_F(SmtpClientTlsTest, WrongCertificateNameIsRefusedWithoutPlaintextFallback) {
  auto policy = tlsAuthHost();
  const auto wrong = ca_.issue("wrong-name", {"other.test"});
  policy.tls_certificate = wrong.certificate;
  policy.tls_private_key = wrong.private_key;
  policy.require_tls = false;  // the server would take plaintext mail: the client must not
  policy.require_auth = false;
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), settings());

  const auto result = deliver(client, server, route(RouteTls::kStartTlsRequired, false));

  ASSERT_TRUE(result.session_error.has_value());
  EXPECT_EQ(result.session_error->code, 421);
  EXPECT_EQ(result.session_error->enhanced, "4.7.5");
  EXPECT_NE(result.session_error->text.find("IP address mismatch"), std::string::npos)
      << result.session_error->text;
  EXPECT_TRUE(result.try_next_host);
  // The server notices the aborted handshake on its own thread, a moment later.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (server.tlsFailures() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(server.tlsFailures(), 1U);
  EXPECT_EQ(server.tlsHandshakes(), 0U);
  expectNothingSent(server);
  // The connection was dropped: no second connection tried plaintext either.
  EXPECT_EQ(server.connectionCount(), 1U);
}

TEST_F(SmtpClientTlsTest, ConfiguredTlsNameIsChecked) {
  auto policy = tlsAuthHost();
  const auto named = ca_.issue("named", {"smarthost.test"});
  policy.tls_certificate = named.certificate;
  policy.tls_private_key = named.private_key;
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), settings());

  auto matching = route(RouteTls::kStartTlsRequired);
  matching.tls_name = "smarthost.test";
  expectDelivered(deliver(client, server, matching));

  auto other = route(RouteTls::kStartTlsRequired);
  other.tls_name = "elsewhere.test";
  const auto refused = deliver(client, server, other);
  ASSERT_TRUE(refused.session_error.has_value());
  EXPECT_NE(refused.session_error->text.find("hostname mismatch"), std::string::npos)
      << refused.session_error->text;
  EXPECT_EQ(server.transactions().size(), 1U);
}

TEST_F(SmtpClientTlsTest, UntrustedCertificateIsRefused) {
  auto policy = tlsAuthHost();
  const auto self_signed = ca_.selfSigned("self", {"localhost"});
  policy.tls_certificate = self_signed.certificate;
  policy.tls_private_key = self_signed.private_key;
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), settings());

  const auto result = deliver(client, server, route(RouteTls::kStartTlsRequired));

  ASSERT_TRUE(result.session_error.has_value());
  EXPECT_EQ(result.session_error->enhanced, "4.7.5");
  EXPECT_NE(result.session_error->text.find("certificate not trusted"), std::string::npos)
      << result.session_error->text;
  EXPECT_TRUE(server.authAttempts().empty()) << "credentials went to an untrusted server";
  expectNothingSent(server);
}

TEST_F(SmtpClientTlsTest, VerificationCanBeTurnedOffExplicitly) {
  auto policy = tlsAuthHost();
  const auto self_signed = ca_.selfSigned("self", {"somewhere.test"});
  policy.tls_certificate = self_signed.certificate;
  policy.tls_private_key = self_signed.private_key;
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), settings());

  auto unverified = route(RouteTls::kStartTlsRequired);
  unverified.tls_verify = false;
  unverified.ca_file.clear();
  expectDelivered(deliver(client, server, unverified));
  ASSERT_EQ(server.transactions().size(), 1U);
  EXPECT_TRUE(server.transactions()[0].tls);
}

TEST_F(SmtpClientTlsTest, RequiredStartTlsNotOfferedDefers) {
  ScriptedSmtpPolicy policy;  // no certificate: no STARTTLS
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), settings());

  const auto result = deliver(client, server, route(RouteTls::kStartTlsRequired, false));

  ASSERT_TRUE(result.session_error.has_value());
  EXPECT_EQ(result.session_error->code, 421);
  EXPECT_EQ(result.session_error->enhanced, "4.7.4");
  EXPECT_NE(result.session_error->text.find("does not offer STARTTLS"), std::string::npos);
  EXPECT_TRUE(result.try_next_host);
  expectNothingSent(server);
}

TEST_F(SmtpClientTlsTest, RequiredStartTlsRefusedDefers) {
  auto policy = tlsAuthHost();
  policy.command_hook = [](const std::string& line) {
    return line == "STARTTLS" ? std::string("454 4.7.0 TLS not available due to temporary reason")
                              : std::string();
  };
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), settings());

  const auto result = deliver(client, server, route(RouteTls::kStartTlsRequired, false));

  ASSERT_TRUE(result.session_error.has_value());
  EXPECT_EQ(result.session_error->enhanced, "4.7.4");
  EXPECT_NE(result.session_error->text.find("454 4.7.0"), std::string::npos);
  expectNothingSent(server);
}

TEST_F(SmtpClientTlsTest, OpportunisticStartTlsDeliversInPlaintextWhenNotOffered) {
  ScriptedSmtpServer server;  // no certificate: no STARTTLS
  SmtpClient client(io_.get_executor(), settings());

  expectDelivered(deliver(client, server, route(RouteTls::kStartTls, false)));

  ASSERT_EQ(server.transactions().size(), 1U);
  EXPECT_FALSE(server.transactions()[0].tls);
  EXPECT_EQ(server.commandCount("STARTTLS"), 0U);
}

TEST_F(SmtpClientTlsTest, BareAuthKeywordInEhloIsHarmless) {
  // A bare "AUTH" keyword (no mechanisms) once made the EHLO parser throw.
  ScriptedSmtpPolicy bare;
  bare.extensions.push_back("AUTH");
  ScriptedSmtpServer bare_server(bare);
  SmtpClient client(io_.get_executor(), settings());
  expectDelivered(deliver(client, bare_server, route(RouteTls::kNone, false)));
}

TEST_F(SmtpClientTlsTest, OpportunisticStartTlsEncryptsWithoutVerifyingByDefault) {
  auto policy = tlsAuthHost();
  const auto self_signed = ca_.selfSigned("self", {"somewhere.test"});
  policy.tls_certificate = self_signed.certificate;
  policy.tls_private_key = self_signed.private_key;
  policy.auth_mechanisms.clear();
  policy.require_auth = false;
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), settings());

  expectDelivered(deliver(client, server, route(RouteTls::kStartTls, false)));

  ASSERT_EQ(server.transactions().size(), 1U);
  EXPECT_TRUE(server.transactions()[0].tls);
}

TEST_F(SmtpClientTlsTest, WrongPasswordDefersWithoutLeakingIt) {
  auto policy = tlsAuthHost();
  policy.users = {{kUser, "the-right-one"}};
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), settings());

  const auto result = deliver(client, server, route(RouteTls::kStartTlsRequired));

  ASSERT_TRUE(result.session_error.has_value());
  // 535 is a permanent reply, but a wrong password is not the message's fault: defer.
  EXPECT_EQ(result.session_error->code, 454);
  EXPECT_EQ(result.session_error->enhanced, "4.7.0");
  EXPECT_FALSE(result.session_error->permanent());
  EXPECT_NE(result.session_error->text.find("535 5.7.8"), std::string::npos)
      << result.session_error->text;
  EXPECT_EQ(result.session_error->text.find(kPassword), std::string::npos);
  EXPECT_EQ(result.session_error->text.find(kUser), std::string::npos);
  EXPECT_TRUE(result.try_next_host);
  ASSERT_EQ(server.authAttempts().size(), 1U);
  EXPECT_FALSE(server.authAttempts()[0].success);
  expectNothingSent(server);
}

TEST_F(SmtpClientTlsTest, NoAuthOfferedDefersWhenCredentialsAreConfigured) {
  auto policy = tlsAuthHost();
  policy.auth_mechanisms.clear();
  policy.require_auth = false;
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), settings());

  const auto result = deliver(client, server, route(RouteTls::kStartTlsRequired));

  ASSERT_TRUE(result.session_error.has_value());
  EXPECT_EQ(result.session_error->enhanced, "4.7.0");
  EXPECT_NE(result.session_error->text.find("offers no AUTH mechanism"), std::string::npos);
  expectNothingSent(server);
}

TEST_F(SmtpClientTlsTest, PlaintextInjectedAfterStartTlsIsRefused) {
  auto policy = tlsAuthHost();
  // A man in the middle answers STARTTLS and appends a line of its own in the clear.
  policy.command_hook = [](const std::string& line) {
    return line == "STARTTLS" ? std::string("220 2.0.0 go ahead\n250 injected") : std::string();
  };
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), settings());

  const auto result = deliver(client, server, route(RouteTls::kStartTlsRequired));

  ASSERT_TRUE(result.session_error.has_value());
  EXPECT_EQ(result.session_error->enhanced, "4.7.0");
  EXPECT_NE(result.session_error->text.find("after its 220 reply to STARTTLS"), std::string::npos)
      << result.session_error->text;
  expectNothingSent(server);
}

TEST_F(SmtpClientTlsTest, TlsConnectionsAreReusedOnlyForTheSameSecurity) {
  auto policy = tlsAuthHost();
  policy.require_tls = false;
  policy.require_auth = false;
  ScriptedSmtpServer server(policy);
  SmtpClient client(io_.get_executor(), settings());
  const auto secured = RouteSecurity::fromRoute(route(RouteTls::kStartTlsRequired));

  expectDelivered(deliverWith(client, server, secured));
  expectDelivered(deliverWith(client, server, secured));
  // A plaintext route to the same endpoint must not get the authenticated TLS connection.
  expectDelivered(deliverWith(client, server, RouteSecurity::plaintext()));

  const auto transactions = server.transactions();
  ASSERT_EQ(transactions.size(), 3U);
  EXPECT_EQ(transactions[0].connection, 1U);
  EXPECT_EQ(transactions[1].connection, 1U) << "the TLS connection was not reused";
  EXPECT_TRUE(transactions[1].tls);
  EXPECT_EQ(transactions[1].auth_user, kUser);
  EXPECT_EQ(transactions[2].connection, 2U);
  EXPECT_FALSE(transactions[2].tls);
  EXPECT_EQ(transactions[2].auth_user, "");
  EXPECT_EQ(server.authAttempts().size(), 1U);
}

}  // namespace
}  // namespace relayguard::delivery
