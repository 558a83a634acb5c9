// smtp_session_test: the relay's inbound SMTP behaviour seen from a real client over loopback:
// byte-exact relaying through `relayguard sink`, PIPELINING, SMTP smuggling, protocol limits
// and relay control. Every test runs its own `relayguard serve`.
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/relay_harness.hpp"
#include "tests/support/scripted_smtp_server.hpp"

namespace relayguard::test {
namespace {

using namespace std::chrono_literals;

class SmtpSessionTest : public IntegrationTest {
 protected:
  // A relay whose smart host is a scripted server (unless the test gives other options).
  Relay& relayToScripted(std::vector<std::string> limits = {}) {
    RelayOptions o;
    o.smart_hosts = {smart_host_.address()};
    o.limits = std::move(limits);
    return startRelay(std::move(o));
  }

  ScriptedSmtpServer smart_host_;
};

// Splits the sink's file into the two lines it prepends, the relay's Received: header (with its
// continuation lines) and the rest.
struct SinkFile {
  std::string return_path;
  std::string envelope_to;
  std::string received;
  std::string rest;
};

SinkFile splitSinkFile(const std::string& file) {
  SinkFile out;
  std::size_t pos = 0;
  auto nextLine = [&](std::string& into) {
    const auto eol = file.find("\r\n", pos);
    if (eol == std::string::npos) {
      return false;
    }
    into = file.substr(pos, eol + 2 - pos);
    pos = eol + 2;
    return true;
  };
  if (!nextLine(out.return_path) || !nextLine(out.envelope_to)) {
    return out;
  }
  std::string line;
  const std::size_t received_start = pos;
  if (file.compare(pos, 9, "Received:") == 0 && nextLine(line)) {
    while (pos < file.size() && (file[pos] == ' ' || file[pos] == '\t') && nextLine(line)) {
    }
    out.received = file.substr(received_start, pos - received_start);
  }
  out.rest = file.substr(pos);
  return out;
}

TEST_F(SmtpSessionTest, EndToEndThroughSinkIsByteExact) {
  const std::uint16_t sink_port = freeLoopbackPort();
  Sink& sink = startSink(sink_port);
  RelayOptions o;
  o.smart_hosts = {"127.0.0.1:" + std::to_string(sink_port)};
  Relay& relay = startRelay(o);

  const std::string long_line(990, 'L');
  const std::string message =
      "From: Alice <alice@app.test>\r\n"
      "To: <bob@ext.test>\r\n"
      "Subject: end to end\r\n"
      "Message-ID: <e2e-1@app.test>\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: 8bit\r\n"
      "\r\n"
      ".leading dot\r\n"
      "..two leading dots\r\n"
      ".\r\n"
      "Gr\xC3\xBC\xC3\x9F"
      "e aus K\xC3\xB6ln \xE2\x9C\x93 \xF0\x9F\x93\xA7\r\n"
      "\r\n" +
      long_line +
      "\r\n"
      "last line\r\n";
  const SmtpTransaction t =
      relay.send("alice@app.test", {"bob@ext.test"}, message, "BODY=8BITMIME");
  ASSERT_EQ(t.final.code, 250) << t.final;
  const std::string queue_id = t.queueId();
  ASSERT_FALSE(queue_id.empty());

  ASSERT_TRUE(sink.waitForMessages(1, 10s)) << "nothing reached the sink";
  const auto files = sink.messages();
  ASSERT_EQ(files.size(), 1U);
  const SinkFile f = splitSinkFile(files[0]);
  EXPECT_EQ(f.return_path, "Return-Path: <alice@app.test>\r\n");
  EXPECT_EQ(f.envelope_to, "X-Envelope-To: <bob@ext.test>\r\n");
  ASSERT_FALSE(f.received.empty()) << "no Received: header after the sink's lines:\n" << files[0];
  EXPECT_NE(f.received.find("by relay.integ.test"), std::string::npos) << f.received;
  EXPECT_NE(f.received.find(" id " + queue_id), std::string::npos)
      << "Received: does not name queue id " << queue_id << ":\n"
      << f.received;
  EXPECT_EQ(f.rest, message);
  EXPECT_TRUE(relay.waitForQueueSize(0, 5s));
}

TEST_F(SmtpSessionTest, PipelinedTransactionGetsRepliesInOrder) {
  Relay& relay = relayToScripted();
  auto c = relay.client();
  ASSERT_TRUE(c->sendRaw(
      "MAIL FROM:<pipe@app.test>\r\nRCPT TO:<one@ext.test>\r\nRCPT TO:<two@ext.test>\r\nDATA\r\n"));
  const SmtpReply mail = c->readReply();
  const SmtpReply rcpt1 = c->readReply();
  const SmtpReply rcpt2 = c->readReply();
  const SmtpReply data = c->readReply();
  EXPECT_EQ(mail.code, 250) << mail;
  EXPECT_EQ(rcpt1.code, 250) << rcpt1;
  EXPECT_EQ(rcpt2.code, 250) << rcpt2;
  ASSERT_EQ(data.code, 354) << data;
  ASSERT_TRUE(c->sendRaw(SmtpTestClient::dotStuff(makeMessage("pipe@app.test", "one@ext.test",
                                                              "pipelined", "body\r\n")) +
                         ".\r\n"));
  const SmtpReply end = c->readReply();
  ASSERT_EQ(end.code, 250) << end;
  EXPECT_EQ(c->command("QUIT").code, 221);

  ASSERT_TRUE(smart_host_.waitForMessages(1, 10s));
  const auto txns = smart_host_.transactions();
  ASSERT_EQ(txns.size(), 1U);
  EXPECT_EQ(txns[0].mail_from, "pipe@app.test");
  EXPECT_EQ(txns[0].rcpt_to, (std::vector<std::string>{"one@ext.test", "two@ext.test"}));
  EXPECT_NE(txns[0].data.find("Subject: pipelined\r\n"), std::string::npos);
}

TEST_F(SmtpSessionTest, SmugglingWithBareLineEndsIsRefused) {
  Relay& relay = relayToScripted();
  const std::vector<std::pair<std::string, std::string>> variants = {
      {"LF.LF", "\n.\n"},     {"CR.CR", "\r.\r"},     {"LF.CRLF", "\n.\r\n"},
      {"CRLF.LF", "\r\n.\n"}, {"CR.CRLF", "\r.\r\n"},
  };
  for (const auto& [name, end_variant] : variants) {
    SCOPED_TRACE("variant " + name);
    auto c = relay.client();
    ASSERT_EQ(c->command("MAIL FROM:<honest@app.test>").code, 250);
    ASSERT_EQ(c->command("RCPT TO:<friend@ext.test>").code, 250);
    ASSERT_EQ(c->command("DATA").code, 354);
    const std::string payload = "From: <honest@app.test>\r\nSubject: smuggle " + name +
                                "\r\n\r\nhello" + end_variant +
                                "MAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\nDATA\r\nsmuggled\r\n"
                                "\r\n.\r\n";
    ASSERT_TRUE(c->sendRaw(payload));
    const SmtpReply end = c->readReply();
    EXPECT_EQ(end.code, 550) << end;
    EXPECT_EQ(end.enhanced(), "5.6.0") << end;
    // Nothing else may come back: a vulnerable server would answer the smuggled commands.
    const SmtpReply extra = c->readReply(300ms);
    EXPECT_EQ(extra.code, 0) << "unexpected extra reply " << extra;
    const SmtpReply noop = c->command("NOOP");
    EXPECT_EQ(noop.code, 250) << noop;
    EXPECT_EQ(c->command("QUIT").code, 221);
  }
  // A clean message afterwards is the barrier: once it has arrived, anything smuggled would have
  // arrived too.
  ASSERT_TRUE(relay
                  .send("honest@app.test", {"friend@ext.test"},
                        makeMessage("honest@app.test", "friend@ext.test", "clean", "clean\r\n"))
                  .accepted());
  ASSERT_TRUE(smart_host_.waitForMessages(1, 10s));
  std::this_thread::sleep_for(500ms);
  const auto txns = smart_host_.transactions();
  ASSERT_EQ(txns.size(), 1U);
  EXPECT_NE(txns[0].data.find("Subject: clean\r\n"), std::string::npos);
  for (const auto& t : txns) {
    EXPECT_EQ(t.data.find("smuggled"), std::string::npos);
    EXPECT_EQ(std::count(t.rcpt_to.begin(), t.rcpt_to.end(), "victim@y"), 0);
    EXPECT_NE(t.mail_from, "evil@x");
  }
  for (const auto& cmd : smart_host_.commands()) {
    EXPECT_EQ(cmd.find("victim@y"), std::string::npos) << cmd;
    EXPECT_EQ(cmd.find("evil@x"), std::string::npos) << cmd;
  }
  EXPECT_TRUE(relay.waitForQueueSize(0, 5s));
}

TEST_F(SmtpSessionTest, CommandLineLimit) {
  Relay& relay = relayToScripted();
  auto c = relay.client();
  // 512 octets including CRLF is the limit (RFC 5321 4.5.3.1.4): accepted.
  const SmtpReply at_limit = c->command("NOOP " + std::string(505, 'x'));
  EXPECT_EQ(at_limit.code, 250) << at_limit;
  const SmtpReply over = c->command("NOOP " + std::string(600, 'x'));
  EXPECT_EQ(over.code, 500) << over;
  EXPECT_EQ(over.enhanced(), "5.5.2") << over;
  const SmtpReply just_over = c->command("NOOP " + std::string(506, 'x'));
  EXPECT_EQ(just_over.code, 500) << just_over;
  const SmtpReply noop = c->command("NOOP");
  EXPECT_EQ(noop.code, 250) << "session did not continue: " << noop;
}

TEST_F(SmtpSessionTest, RecipientLimit) {
  Relay& relay = relayToScripted({"max_recipients = 2"});
  auto c = relay.client();
  ASSERT_EQ(c->command("MAIL FROM:<many@app.test>").code, 250);
  EXPECT_EQ(c->command("RCPT TO:<r1@ext.test>").code, 250);
  EXPECT_EQ(c->command("RCPT TO:<r2@ext.test>").code, 250);
  const SmtpReply third = c->command("RCPT TO:<r3@ext.test>");
  EXPECT_EQ(third.code, 452) << third;
  EXPECT_EQ(third.enhanced(), "4.5.3") << third;
  ASSERT_EQ(c->command("DATA").code, 354);
  ASSERT_TRUE(
      c->sendRaw(makeMessage("many@app.test", "r1@ext.test", "two of three", "x\r\n") + ".\r\n"));
  ASSERT_EQ(c->readReply().code, 250);
  ASSERT_TRUE(smart_host_.waitForMessages(1, 10s));
  EXPECT_EQ(smart_host_.transactions()[0].rcpt_to,
            (std::vector<std::string>{"r1@ext.test", "r2@ext.test"}));
}

TEST_F(SmtpSessionTest, MessageSizeLimit) {
  Relay& relay = relayToScripted({"max_message_size = \"2K\""});
  auto c = relay.client();
  const SmtpReply declared = c->command("MAIL FROM:<big@app.test> SIZE=999999");
  EXPECT_EQ(declared.code, 552) << declared;
  EXPECT_EQ(declared.enhanced(), "5.3.4") << declared;

  ASSERT_EQ(c->command("MAIL FROM:<big@app.test> SIZE=1000").code, 250);
  ASSERT_EQ(c->command("RCPT TO:<r@ext.test>").code, 250);
  ASSERT_EQ(c->command("DATA").code, 354);
  std::string body;
  for (int i = 0; i < 40; ++i) {
    body += std::string(70, 'b') + "\r\n";  // 2880 octets of body: over 2K
  }
  ASSERT_TRUE(c->sendRaw(makeMessage("big@app.test", "r@ext.test", "too big", body) + ".\r\n"));
  const SmtpReply end = c->readReply();
  EXPECT_EQ(end.code, 552) << end;
  EXPECT_EQ(end.enhanced(), "5.3.4") << end;
  EXPECT_EQ(c->command("NOOP").code, 250);

  // A message under the limit still goes through.
  const SmtpTransaction small = c->sendMail(
      "big@app.test", {"r@ext.test"}, makeMessage("big@app.test", "r@ext.test", "small", "ok\r\n"));
  EXPECT_EQ(small.final.code, 250) << small.final;
  ASSERT_TRUE(smart_host_.waitForMessages(1, 10s));
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(smart_host_.transactions().size(), 1U);
  EXPECT_NE(smart_host_.transactions()[0].data.find("Subject: small\r\n"), std::string::npos);
}

// Past 1 MiB a message is spilled to an unnamed file in the spool's tmp/ while it arrives: it
// must come out at the smart host byte for byte, dots unstuffed, and leave nothing in tmp/.
TEST_F(SmtpSessionTest, LargeMessageIsSpilledAndDeliveredIntact) {
  Relay& relay = relayToScripted();
  std::string body;
  for (int i = 0; body.size() < 6 * 1024 * 1024; ++i) {
    body += (i % 50 == 0 ? ".line " : "line ") + std::to_string(i) + std::string(64, 'x') + "\r\n";
  }
  const auto sent = relay.send("app@app.test", {"r@ext.test"},
                               makeMessage("app@app.test", "r@ext.test", "large", body));
  EXPECT_EQ(sent.final.code, 250) << sent.final;
  ASSERT_TRUE(smart_host_.waitForMessages(1, 30s));
  const std::string data = smart_host_.transactions()[0].data;  // a copy: transactions() is one
  const std::size_t at = data.find("Subject: large\r\n");
  ASSERT_NE(at, std::string::npos);
  EXPECT_TRUE(data.ends_with("\r\n\r\n" + body)) << "delivered " << data.size() << " bytes";
  std::size_t leftovers = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator(relay.spoolDir() / "tmp")) {
    ++leftovers;
  }
  EXPECT_EQ(leftovers, 0U);
}

// A spill file that cannot be made (here tmp/ has gone) is the relay's fault, not the client's:
// 451 4.3.0 after the end of DATA, never 250, the session goes on, and once tmp/ is back the
// same message is accepted.
TEST_F(SmtpSessionTest, FailedSpillIsATemporaryErrorAndTheSessionGoesOn) {
  Relay& relay = relayToScripted();
  std::string body;
  while (body.size() < 2 * 1024 * 1024) {
    body += std::string(76, 's') + "\r\n";
  }
  const std::string message = makeMessage("app@app.test", "r@ext.test", "spill", body);
  const std::filesystem::path tmp = relay.spoolDir() / "tmp";
  std::filesystem::rename(tmp, relay.spoolDir() / "tmp-away");
  auto c = relay.client();
  ASSERT_EQ(c->command("MAIL FROM:<app@app.test>").code, 250);
  ASSERT_EQ(c->command("RCPT TO:<r@ext.test>").code, 250);
  ASSERT_EQ(c->command("DATA").code, 354);
  ASSERT_TRUE(c->sendRaw(message + ".\r\n"));
  const SmtpReply refused = c->readReply();
  EXPECT_EQ(refused.code, 451) << refused;
  EXPECT_EQ(refused.enhanced(), "4.3.0") << refused;
  EXPECT_EQ(c->command("NOOP").code, 250);
  std::filesystem::rename(relay.spoolDir() / "tmp-away", tmp);
  const auto sent = c->sendMail("app@app.test", {"r@ext.test"}, message);
  EXPECT_EQ(sent.final.code, 250) << sent.final;
  ASSERT_TRUE(smart_host_.waitForMessages(1, 30s));
}

TEST_F(SmtpSessionTest, HeaderSectionLimit) {
  Relay& relay = relayToScripted({"max_header_bytes = \"2K\""});
  std::string headers;
  for (int i = 0; i < 60; ++i) {
    headers += "X-Filler-" + std::to_string(i) + ": " + std::string(40, 'h') + "\r\n";
  }
  const auto big = relay.send("app@app.test", {"r@ext.test"},
                              headers + makeMessage("app@app.test", "r@ext.test", "hdr", "x\r\n"));
  EXPECT_EQ(big.final.code, 552) << big.final;
  EXPECT_EQ(big.final.enhanced(), "5.3.4") << big.final;
  const auto ok = relay.send("app@app.test", {"r@ext.test"},
                             makeMessage("app@app.test", "r@ext.test", "small", "x\r\n"));
  EXPECT_EQ(ok.final.code, 250) << ok.final;
  ASSERT_TRUE(smart_host_.waitForMessages(1, 10s));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(smart_host_.transactions().size(), 1U);
}

TEST_F(SmtpSessionTest, ConnectionsPerAddressLimit) {
  Relay& relay = relayToScripted({"max_connections_per_ip = 2"});
  // From 127.0.0.3 so that the readiness probe (from 127.0.0.1) cannot count against the limit.
  SmtpTestClient a;
  SmtpTestClient b;
  SmtpTestClient third;
  ASSERT_TRUE(a.connect("127.0.0.1", relay.port(), "127.0.0.3")) << a.lastError();
  EXPECT_EQ(a.readReply().code, 220);
  ASSERT_TRUE(b.connect("127.0.0.1", relay.port(), "127.0.0.3")) << b.lastError();
  EXPECT_EQ(b.readReply().code, 220);
  ASSERT_TRUE(third.connect("127.0.0.1", relay.port(), "127.0.0.3")) << third.lastError();
  const SmtpReply refused = third.readReply();
  EXPECT_EQ(refused.code, 421) << refused;
  EXPECT_EQ(refused.enhanced(), "4.7.0") << refused;
  EXPECT_TRUE(third.waitForClose(2s));
  // Another address is not affected, and the first two sessions still work.
  SmtpTestClient other;
  ASSERT_TRUE(other.connect("127.0.0.1", relay.port(), "127.0.0.4")) << other.lastError();
  EXPECT_EQ(other.readReply().code, 220);
  EXPECT_EQ(a.command("NOOP").code, 250);
  EXPECT_EQ(b.command("NOOP").code, 250);
  // Once one closes, a new connection from that address is accepted again.
  EXPECT_EQ(a.command("QUIT").code, 221);
  EXPECT_TRUE(a.waitForClose(2s));
  a.close();
  bool accepted = waitUntil(
      [&] {
        SmtpTestClient again;
        return again.connect("127.0.0.1", relay.port(), "127.0.0.3") &&
               again.readReply().code == 220;
      },
      3s);
  EXPECT_TRUE(accepted);
}

TEST_F(SmtpSessionTest, TooManyErrorsClosesTheSession) {
  Relay& relay = relayToScripted({"max_errors = 3"});
  auto c = relay.client();
  const SmtpReply e1 = c->command("FOO");
  const SmtpReply e2 = c->command("BAR");
  const SmtpReply e3 = c->command("BAZ");
  EXPECT_EQ(e1.code, 500) << e1;
  EXPECT_EQ(e2.code, 500) << e2;
  EXPECT_EQ(e3.code, 500) << e3;
  const SmtpReply bye = c->readReply();
  EXPECT_EQ(bye.code, 421) << bye;
  EXPECT_TRUE(c->waitForClose(2s)) << "the relay kept the connection open";
}

TEST_F(SmtpSessionTest, NulInCommandIsRefused) {
  Relay& relay = relayToScripted();
  auto c = relay.client();
  ASSERT_TRUE(c->sendRaw(std::string("NOOP a\0b\r\n", 10)));
  const SmtpReply nul = c->readReply();
  EXPECT_EQ(nul.code, 500) << nul;
  EXPECT_EQ(nul.enhanced(), "5.5.2") << nul;
  ASSERT_TRUE(c->sendRaw(std::string("MAIL FROM:<a\0b@app.test>\r\n", 26)));
  EXPECT_EQ(c->readReply().code, 500);
  EXPECT_EQ(c->command("NOOP").code, 250);
}

TEST_F(SmtpSessionTest, IdleSessionTimesOut) {
  Relay& relay = relayToScripted({"command_timeout = \"1s\""});
  auto c = relay.client();
  const auto start = std::chrono::steady_clock::now();
  const SmtpReply timeout = c->readReply(5s);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(timeout.code, 421) << timeout;
  EXPECT_EQ(timeout.enhanced(), "4.4.2") << timeout;
  EXPECT_GE(waited, 800ms);
  EXPECT_LE(waited, 4s);
  EXPECT_TRUE(c->waitForClose(2s));
}

// A client that drips its message, each line well within command_timeout, is still cut off when
// data_timeout has passed since DATA (a slowloris holding a session for good otherwise); nothing
// of the message is accepted.
TEST_F(SmtpSessionTest, DataPhaseEndsAtDataTimeoutHoweverSteadyTheDrip) {
  Relay& relay = relayToScripted({"command_timeout = \"1s\"", "data_timeout = \"2s\""});
  auto c = relay.client();
  ASSERT_EQ(c->command("EHLO drip.test").code, 250);
  ASSERT_EQ(c->command("MAIL FROM:<drip@app.test>").code, 250);
  ASSERT_EQ(c->command("RCPT TO:<a@ext.test>").code, 250);
  ASSERT_EQ(c->command("DATA").code, 354);
  const auto start = std::chrono::steady_clock::now();
  bool open = true;
  while (open && std::chrono::steady_clock::now() - start < 6s) {
    open = c->sendRaw("Subject: drip\r\n");
    std::this_thread::sleep_for(300ms);
    open = open && !c->waitForClose(0ms);
  }
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(open) << "the session outlived data_timeout";
  EXPECT_GE(waited, 1800ms);
  EXPECT_LE(waited, 4s);
  const SmtpReply timeout = c->readReply(1s);
  EXPECT_EQ(timeout.code, 421) << timeout;
  EXPECT_EQ(timeout.enhanced(), "4.4.2") << timeout;
  EXPECT_EQ(smart_host_.transactions().size(), 0U);
}

TEST_F(SmtpSessionTest, ProtocolErrors) {
  Relay& relay = relayToScripted();
  SmtpTestClient c;
  ASSERT_TRUE(c.connect("127.0.0.1", relay.port()));
  ASSERT_EQ(c.readReply().code, 220);

  const SmtpReply unknown = c.command("FROBNICATE now");
  EXPECT_EQ(unknown.code, 500) << unknown;
  EXPECT_EQ(unknown.enhanced(), "5.5.2") << unknown;

  const SmtpReply early_mail = c.command("MAIL FROM:<a@app.test>");
  EXPECT_EQ(early_mail.code, 503) << early_mail;
  EXPECT_EQ(early_mail.enhanced(), "5.5.1") << early_mail;

  ASSERT_EQ(c.command("EHLO client.test").code, 250);
  const SmtpReply data_without_mail = c.command("DATA");
  EXPECT_EQ(data_without_mail.code, 503) << data_without_mail;

  const SmtpReply rcpt_without_mail = c.command("RCPT TO:<b@ext.test>");
  EXPECT_EQ(rcpt_without_mail.code, 503) << rcpt_without_mail;

  ASSERT_EQ(c.command("MAIL FROM:<a@app.test>").code, 250);
  // RFC 5321 3.3 allows 503 or 554 "no valid recipients" for DATA without an accepted RCPT.
  const SmtpReply data_without_rcpt = c.command("DATA");
  EXPECT_TRUE(data_without_rcpt.code == 503 || data_without_rcpt.code == 554) << data_without_rcpt;
  EXPECT_EQ(data_without_rcpt.enhanced(), "5.5.1") << data_without_rcpt;

  const SmtpReply vrfy = c.command("VRFY postmaster");
  EXPECT_EQ(vrfy.code, 252) << vrfy;
  EXPECT_EQ(c.command("NOOP").code, 250);
}

TEST_F(SmtpSessionTest, SourceRoutesAndPercentHackAreRefused) {
  Relay& relay = relayToScripted();
  auto c = relay.client();
  ASSERT_EQ(c->command("MAIL FROM:<a@app.test>").code, 250);
  const SmtpReply route = c->command("RCPT TO:<@a.test,@b.test:u@c.test>");
  EXPECT_EQ(route.code, 553) << route;
  EXPECT_EQ(route.enhanced(), "5.7.1") << route;
  const SmtpReply percent = c->command("RCPT TO:<u%x.test@y.test>");
  EXPECT_EQ(percent.code, 553) << percent;
  EXPECT_EQ(percent.enhanced(), "5.7.1") << percent;
  const SmtpReply fine = c->command("RCPT TO:<u@y.test>");
  EXPECT_EQ(fine.code, 250) << fine;
}

TEST_F(SmtpSessionTest, RelayingOnlyFromRelayNetworks) {
  RelayOptions o;
  o.smart_hosts = {smart_host_.address()};
  o.relay_networks = {"127.0.0.1/32"};
  Relay& relay = startRelay(o);

  auto outside = relay.client("127.0.0.2");
  ASSERT_EQ(outside->command("MAIL FROM:<spammer@outside.test>").code, 250);
  const SmtpReply denied = outside->command("RCPT TO:<victim@ext.test>");
  EXPECT_EQ(denied.code, 554) << denied;
  EXPECT_EQ(denied.enhanced(), "5.7.1") << denied;
  const SmtpReply data = outside->command("DATA");
  EXPECT_NE(data.code, 354) << data;

  auto inside = relay.client("127.0.0.1");
  ASSERT_EQ(inside->command("MAIL FROM:<app@app.test>").code, 250);
  const SmtpReply allowed = inside->command("RCPT TO:<friend@ext.test>");
  EXPECT_EQ(allowed.code, 250) << allowed;
}

}  // namespace
}  // namespace relayguard::test
