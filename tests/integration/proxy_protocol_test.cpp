// proxy_protocol_test: listeners with proxy_protocol = true, over real loopback sockets. The test
// plays the load balancer on 127.0.0.1 and sends PROXY v1 and v2 headers naming clients in the
// documentation ranges (no traffic goes there: the addresses are only text in the header). The
// real client's address must decide relaying, be counted by the per-address connection limit and
// be written to the Received: header and the audit log; LOCAL uses the balancer's own address;
// a connection from outside proxy_from, or with a missing or malformed header, gets no greeting.
// SMTPS takes the header before the TLS handshake. The last test runs Debian's haproxy with
// send-proxy and send-proxy-v2 in front of the relay as an independent sender of the headers.
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/relay_harness.hpp"
#include "tests/support/proxy_headers.hpp"
#include "tests/support/test_certificates.hpp"

namespace relayguard::test {
namespace {

using namespace std::chrono_literals;

// A PROXY v2 header for a TCP connection from src:40000 to dst:25 (4- or 16-byte addresses).
std::string v2Header(const std::string& src, const std::string& dst, bool local = false) {
  return proxyV2(local ? 0x20 : 0x21, src.size() == 4 ? 0x11 : 0x21,
                 src + dst + std::string("\x9c\x40\x00\x19", 4));
}

const std::string kInside4 = bytesOf({192, 0, 2, 10});     // in relay_networks
const std::string kOutside4 = bytesOf({198, 51, 100, 7});  // not
const std::string kBalancer4 = bytesOf({127, 0, 0, 1});
const std::string kInside6 =
    bytesOf({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10});

class ProxyProtocolTest : public IntegrationTest {
 protected:
  // A relay whose first extra listener (listenerPort(0)) takes PROXY headers from `proxy_from`,
  // relaying for 192.0.2.0/24 and 2001:db8::/32 only (not for the balancer at 127.0.0.1), with a
  // sink as its smart host.
  Relay& startProxyRelay(const std::string& proxy_from = "127.0.0.1",
                         std::vector<std::string> limits = {}, RelayOptions o = {}) {
    sink_ = &startSink(freeLoopbackPort());
    o.smart_hosts = {"127.0.0.1:" + std::to_string(sink_->port())};
    o.relay_networks = {"192.0.2.0/24", "2001:db8::/32"};
    if (o.extra_listeners.empty()) {
      o.extra_listeners = {"relay"};
    }
    o.extra_listener_lines = {"proxy_protocol = true", "proxy_from = [\"" + proxy_from + "\"]"};
    o.limits = std::move(limits);
    return startRelay(std::move(o));
  }

  // Connects to the proxy listener and sends `header`.
  static std::unique_ptr<SmtpTestClient> balancer(const Relay& relay, const std::string& header,
                                                  std::size_t listener = 0) {
    auto c = std::make_unique<SmtpTestClient>();
    EXPECT_TRUE(c->connect("127.0.0.1", relay.listenerPort(listener))) << c->lastError();
    EXPECT_TRUE(c->sendRaw(header)) << c->lastError();
    return c;
  }

  // The RCPT reply of a transaction started behind `header`.
  static SmtpReply rcptBehind(const Relay& relay, const std::string& header) {
    auto c = balancer(relay, header);
    EXPECT_TRUE(c->greetAndEhlo()) << c->lastError();
    EXPECT_EQ(c->command("MAIL FROM:<app@app.test>").code, 250);
    return c->command("RCPT TO:<user@ext.test>");
  }

  // Sends one message behind `header`; expects it relayed, and checks that the sink's copy
  // names `client` in its Received: header and the audit verdict line names it in client_ip.
  void expectRelayedAs(const Relay& relay, const std::string& header, const std::string& client,
                       const std::string& received_literal) {
    auto c = balancer(relay, header);
    ASSERT_TRUE(c->greetAndEhlo()) << c->lastError();
    const SmtpTransaction t =
        c->sendMail("app@app.test", {"user@ext.test"},
                    makeMessage("app@app.test", "user@ext.test", "via lb", "hi"));
    ASSERT_EQ(t.final.code, 250) << t.final;
    ASSERT_TRUE(sink_->waitForMessages(1, 10s));
    const std::string delivered = sink_->messages().at(0);
    EXPECT_NE(delivered.find("Received: from client.test ([" + received_literal + "])"),
              std::string::npos)
        << delivered;
    bool seen = false;
    for (const auto& j : auditLines(relay.spoolDir() / "audit")) {
      if (j.value("event", "") == "verdict" && j.value("queue_id", "") == t.queueId()) {
        EXPECT_EQ(j["client_ip"], client);
        seen = true;
      }
    }
    EXPECT_TRUE(seen) << "no audit verdict for " << t.queueId();
  }

  Sink* sink_ = nullptr;
};

TEST_F(ProxyProtocolTest, V1RealClientDecidesRelayingAndIsRecorded) {
  Relay& relay = startProxyRelay();
  const SmtpReply denied = rcptBehind(relay, "PROXY TCP4 198.51.100.7 127.0.0.1 40000 25\r\n");
  EXPECT_EQ(denied.code, 554) << denied;
  EXPECT_EQ(denied.enhanced(), "5.7.1") << denied;
  EXPECT_TRUE(relay.process().waitForLog("event=relay_denied client=198.51.100.7", 5s));
  expectRelayedAs(relay, "PROXY TCP4 192.0.2.10 127.0.0.1 40000 25\r\n", "192.0.2.10",
                  "192.0.2.10");
}

TEST_F(ProxyProtocolTest, V2RealClientDecidesRelayingAndIsRecorded) {
  Relay& relay = startProxyRelay();
  const SmtpReply denied = rcptBehind(relay, v2Header(kOutside4, kBalancer4));
  EXPECT_EQ(denied.code, 554) << denied;
  EXPECT_TRUE(relay.process().waitForLog("event=relay_denied client=198.51.100.7", 5s));
  EXPECT_EQ(rcptBehind(relay, v2Header(kInside4, kBalancer4)).code, 250);
  expectRelayedAs(relay, v2Header(kInside6, std::string(16, '\0')), "2001:db8::10",
                  "IPv6:2001:db8::10");
}

TEST_F(ProxyProtocolTest, LocalAndUnknownStandForTheBalancerItself) {
  Relay& relay = startProxyRelay();
  // A health check: greeted as usual, but the session is the balancer's (127.0.0.1), which
  // is not in relay_networks.
  EXPECT_EQ(rcptBehind(relay, v2Header(kInside4, kBalancer4, /*local=*/true)).code, 554);
  EXPECT_EQ(rcptBehind(relay, "PROXY UNKNOWN\r\n").code, 554);
  EXPECT_TRUE(relay.process().waitForLog("event=relay_denied client=127.0.0.1", 5s));
}

TEST_F(ProxyProtocolTest, UntrustedAddressIsRefusedWithoutGreeting) {
  Relay& relay = startProxyRelay("10.0.0.0/8");
  auto c = balancer(relay, "PROXY TCP4 192.0.2.10 127.0.0.1 40000 25\r\n");
  EXPECT_TRUE(c->waitForClose(5s));
  EXPECT_EQ(c->pending(), "");
  EXPECT_TRUE(relay.process().waitForLog(
      "event=connection_refused client=127.0.0.1 reason=\"not a trusted load balancer\"", 5s));
  // The plain listener of the same relay is not affected.
  EXPECT_EQ(relay.client()->command("NOOP").code, 250);
}

TEST_F(ProxyProtocolTest, MissingOrMalformedHeaderIsRefused) {
  Relay& relay = startProxyRelay();
  for (const std::string& bad : {std::string("EHLO client.test\r\n"),
                                 std::string("PROXY TCP4 192.0.2.10 127.0.0.1 40000\r\n"),
                                 std::string("PROXY TCP4 192.0.2.10 127.0.0.1 40000 25\n"),
                                 v2Header(kInside4, kBalancer4).replace(8, 1, "q")}) {
    auto c = balancer(relay, bad);
    EXPECT_TRUE(c->waitForClose(5s)) << bad;
    EXPECT_EQ(c->pending(), "") << bad;
  }
  EXPECT_TRUE(relay.process().waitForLog("event=connection_refused via=127.0.0.1 reason=", 5s));
  // A header that stops half-way: the connection waits (for at most 10 s) and gets nothing.
  auto slow = balancer(relay, "PROXY TCP4 192.0.2.10 ");
  EXPECT_FALSE(slow->waitForClose(500ms));
  EXPECT_EQ(slow->pending(), "");
}

TEST_F(ProxyProtocolTest, PerAddressLimitCountsTheRealClient) {
  Relay& relay = startProxyRelay("127.0.0.1", {"max_connections_per_ip = 1"});
  const std::string a = "PROXY TCP4 192.0.2.10 127.0.0.1 40000 25\r\n";
  auto first = balancer(relay, a);
  ASSERT_EQ(first->readReply().code, 220);
  auto second = balancer(relay, a);
  const SmtpReply refused = second->readReply();
  EXPECT_EQ(refused.code, 421) << refused;
  EXPECT_NE(refused.text().find("Too many connections from your address"), std::string::npos);
  // Another client behind the same balancer still gets in.
  auto other = balancer(relay, "PROXY TCP4 192.0.2.11 127.0.0.1 40001 25\r\n");
  EXPECT_EQ(other->readReply().code, 220);
  EXPECT_TRUE(relay.process().waitForLog(
      "event=connection_refused client=192.0.2.10 reason=max_connections_per_ip", 5s));
}

TEST_F(ProxyProtocolTest, SmtpsTakesTheHeaderBeforeTheHandshake) {
  const auto pki = dir_.path() / "pki";
  std::filesystem::create_directories(pki);
  TestCa ca(pki);
  const auto leaf = ca.issue("relay", {"localhost"}, {"127.0.0.1"});
  RelayOptions o;
  o.extra_listeners = {"smtps"};
  o.access = {"users_file = \"users\""};
  o.extra_config = {"[tls]", "certificate = \"" + leaf.certificate.string() + "\"",
                    "private_key = \"" + leaf.private_key.string() + "\""};
  sink_ = &startSink(freeLoopbackPort());
  o.smart_hosts = {"127.0.0.1:" + std::to_string(sink_->port())};
  o.relay_networks = {"192.0.2.0/24"};
  o.extra_listener_lines = {"proxy_protocol = true", "proxy_from = [\"127.0.0.1\"]"};
  Relay& relay = makeRelay(std::move(o));
  const auto added = runCommand(relayguardBinary(),
                                {"user", "add", "alice", "--config", relay.configFile().string()},
                                20s, std::string("a long test passphrase\n"));
  ASSERT_EQ(added.exit_status, 0) << added.err;
  relay.start();

  auto c = balancer(relay, v2Header(bytesOf({198, 51, 100, 9}), kBalancer4));
  ASSERT_TRUE(c->handshake(ca.caFile(), "127.0.0.1")) << c->lastError();
  ASSERT_TRUE(c->greetAndEhlo()) << c->lastError();
  EXPECT_EQ(c->authPlain("alice", "a long test passphrase").code, 235);
  EXPECT_TRUE(relay.process().waitForLog("event=auth_ok client=198.51.100.9", 5s));
}

// Debian's haproxy in TCP mode in front of the relay: frontends on two loopback ports, one
// backend sending v1 headers and one v2. Clients connect to haproxy from 127.0.0.2 (allowed to
// relay) and 127.0.0.3 (not); the relay sees haproxy at 127.0.0.1 and the clients in the header.
TEST_F(ProxyProtocolTest, ThroughRealHaproxy) {
  const char* haproxy = "/usr/sbin/haproxy";
  if (!std::filesystem::exists(haproxy)) {
    GTEST_SKIP() << "haproxy is not installed (scripts/packages.txt lists it)";
  }
  RelayOptions o;
  o.relay_networks = {"127.0.0.2/32"};
  sink_ = &startSink(freeLoopbackPort());
  o.smart_hosts = {"127.0.0.1:" + std::to_string(sink_->port())};
  o.extra_listeners = {"relay"};
  o.extra_listener_lines = {"proxy_protocol = true", "proxy_from = [\"127.0.0.1\"]"};
  Relay& relay = startRelay(std::move(o));

  const std::uint16_t v1_port = freeLoopbackPort();
  const std::uint16_t v2_port = freeLoopbackPort();
  const std::string backend = "127.0.0.1:" + std::to_string(relay.listenerPort(0));
  const auto cfg = dir_.write(
      "haproxy.cfg",
      "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n"
      "frontend v1\n  bind 127.0.0.1:" +
          std::to_string(v1_port) +
          "\n  default_backend relay_v1\n"
          "frontend v2\n  bind 127.0.0.1:" +
          std::to_string(v2_port) +
          "\n  default_backend relay_v2\n"
          "backend relay_v1\n  server r " +
          backend +
          " send-proxy\n"
          "backend relay_v2\n  server r " +
          backend + " send-proxy-v2\n");
  ChildProcess lb(haproxy, {"-db", "-f", cfg.string()}, dir_.path() / "haproxy.log");
  ASSERT_TRUE(lb.waitForPort("127.0.0.1", v1_port, 10s)) << lb.log();
  ASSERT_TRUE(lb.waitForPort("127.0.0.1", v2_port, 10s)) << lb.log();

  std::size_t sent = 0;
  for (const std::uint16_t port : {v1_port, v2_port}) {
    SmtpTestClient outside;
    ASSERT_TRUE(outside.connect("127.0.0.1", port, "127.0.0.3")) << outside.lastError();
    ASSERT_TRUE(outside.greetAndEhlo()) << outside.lastError();
    ASSERT_EQ(outside.command("MAIL FROM:<app@app.test>").code, 250);
    EXPECT_EQ(outside.command("RCPT TO:<user@ext.test>").code, 554) << port;

    SmtpTestClient inside;
    ASSERT_TRUE(inside.connect("127.0.0.1", port, "127.0.0.2")) << inside.lastError();
    ASSERT_TRUE(inside.greetAndEhlo()) << inside.lastError();
    const SmtpTransaction t = inside.sendMail(
        "app@app.test", {"user@ext.test"}, makeMessage("app@app.test", "user@ext.test", "lb", "x"));
    ASSERT_EQ(t.final.code, 250) << "port " << port << ": " << t.final;
    ++sent;
  }
  ASSERT_TRUE(sink_->waitForMessages(sent, 10s));
  for (const auto& m : sink_->messages()) {
    EXPECT_NE(m.find("([127.0.0.2])"), std::string::npos) << m;
  }
  EXPECT_TRUE(relay.process().waitForLog("event=relay_denied client=127.0.0.3", 5s));
}

}  // namespace
}  // namespace relayguard::test
