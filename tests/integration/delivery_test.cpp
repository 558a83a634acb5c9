// delivery_test: what happens to accepted mail on its way out of the real relay: the queue
// survives kill -9 (also in files recycled from delivered messages), temporary failures are
// retried, permanent failures bounce to the sender (and never to the null sender).
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include "core/delivery/scheduler.hpp"
#include "core/util/durable_file.hpp"
#include "tests/integration/relay_harness.hpp"
#include "tests/support/scripted_smtp_server.hpp"

namespace relayguard::test {
namespace {

using namespace std::chrono_literals;

class DeliveryTest : public IntegrationTest {};

std::size_t countOf(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

TEST_F(DeliveryTest, QueueSurvivesKill9AndIsDeliveredAfterRestart) {
  // The smart host's port has nothing listening until the sink starts at the end.
  const std::uint16_t smart_port = freeLoopbackPort();
  RelayOptions o;
  o.smart_hosts = {"127.0.0.1:" + std::to_string(smart_port)};
  Relay& relay = startRelay(o);

  constexpr int kMessages = 5;
  std::map<std::string, std::string> subject_of;  // queue id -> subject
  std::map<std::string, std::string> rcpt_of;     // queue id -> recipient
  for (int i = 0; i < kMessages; ++i) {
    const std::string subject = "durable #" + std::to_string(i);
    const std::string rcpt = "rcpt" + std::to_string(i) + "@ext.test";
    const SmtpTransaction t =
        relay.send("durable@app.test", {rcpt},
                   makeMessage("durable@app.test", rcpt, subject, "message " + subject + "\r\n"));
    ASSERT_EQ(t.final.code, 250) << t.final;
    ASSERT_FALSE(t.queueId().empty());
    subject_of[t.queueId()] = subject;
    rcpt_of[t.queueId()] = rcpt;
  }
  ASSERT_EQ(subject_of.size(), static_cast<std::size_t>(kMessages)) << "queue ids are not unique";

  // While the smart host is down every message is listed with its recipient.
  const nlohmann::json listed = relay.queueList();
  ASSERT_EQ(listed.size(), static_cast<std::size_t>(kMessages)) << listed.dump(2);
  for (const auto& m : listed) {
    const std::string id = m.at("id").get<std::string>();
    ASSERT_EQ(rcpt_of.count(id), 1U) << "unknown id in queue list: " << id;
    EXPECT_EQ(m.at("mail_from").get<std::string>(), "durable@app.test");
    EXPECT_EQ(m.at("rcpt_to"), nlohmann::json::array({rcpt_of[id]})) << m.dump();
    EXPECT_GE(m.at("attempts").get<int>(), 0);
  }
  // Let at least one delivery attempt fail so that the spool records are updated, not fresh.
  ASSERT_TRUE(waitUntil(
      [&] {
        for (const auto& m : relay.queueList()) {
          if (m.at("attempts").get<int>() < 1) {
            return false;
          }
        }
        return true;
      },
      10s))
      << relay.queueList().dump(2);

  relay.kill9();
  ASSERT_EQ(relay.process().exitStatus(), 128 + SIGKILL);
  relay.start();
  EXPECT_EQ(relay.queueList().size(), static_cast<std::size_t>(kMessages))
      << "messages were lost by kill -9";

  Sink& sink = startSink(smart_port);
  const CommandResult flush = relay.cli({"queue", "flush"});
  EXPECT_EQ(flush.exit_status, 0) << flush.err;
  ASSERT_TRUE(sink.waitForMessages(kMessages, 10s))
      << "only " << sink.messages().size() << " of " << kMessages << " arrived";
  std::this_thread::sleep_for(300ms);
  const auto files = sink.messages();
  EXPECT_EQ(files.size(), static_cast<std::size_t>(kMessages)) << "duplicates delivered";
  std::multiset<std::string> seen;
  for (const auto& f : files) {
    for (const auto& [id, subject] : subject_of) {
      if (f.find("Subject: " + subject + "\r\n") != std::string::npos) {
        seen.insert(subject);
        EXPECT_NE(f.find("X-Envelope-To: <" + rcpt_of[id] + ">\r\n"), std::string::npos) << f;
        EXPECT_NE(f.find(" id " + id), std::string::npos) << "Received: lacks id " << id;
      }
    }
  }
  for (const auto& [id, subject] : subject_of) {
    EXPECT_EQ(seen.count(subject), 1U) << subject;
  }
  EXPECT_TRUE(relay.waitForQueueSize(0, 5s)) << relay.queueList().dump(2);
}

std::size_t filesIn(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    n += entry.is_regular_file() ? 1 : 0;
  }
  return n;
}

// A delivered message leaves its file in the spool's free/; the next message is written over it
// (a shorter one: cut to length). It survives kill -9 like a new file, and after the restart it
// arrives exactly as sent, with nothing of the longer message that had the file before.
TEST_F(DeliveryTest, RecycledQueueFilesSurviveKill9WithExactlyTheNewMessages) {
  ScriptedSmtpServer smart_host;
  RelayOptions o;
  o.smart_hosts = {smart_host.address()};
  Relay& relay = startRelay(o);
  constexpr int kMessages = 4;
  std::string filler;
  for (int line = 0; line < 200; ++line) {
    filler += std::string(98, '~') + "\r\n";
  }
  for (int i = 0; i < kMessages; ++i) {
    const SmtpTransaction t =
        relay.send("first@app.test", {"a@ext.test"},
                   makeMessage("first@app.test", "a@ext.test", "first #" + std::to_string(i),
                               filler + "\r\n"));
    ASSERT_EQ(t.final.code, 250) << t.final;
  }
  ASSERT_TRUE(smart_host.waitForMessages(kMessages, 10s));
  const auto free_dir = relay.spoolDir() / "free";
  // Each message took a file a predecessor left, if one was free yet: at least one is free now.
  ASSERT_TRUE(relay.waitForQueueSize(0, 5s)) << relay.queueList().dump(2);
  ASSERT_TRUE(waitUntil([&] { return filesIn(free_dir) >= 1; }, 5s));
  ASSERT_LE(filesIn(free_dir), static_cast<std::size_t>(kMessages));

  ScriptedSmtpPolicy later;
  later.rcpt_reply = [](const std::string&) { return std::string("451 4.3.0 not now"); };
  smart_host.setPolicy(later);
  std::map<std::string, std::string> body_of;  // subject -> body
  for (int i = 0; i < kMessages; ++i) {
    const std::string subject = "second #" + std::to_string(i);
    body_of[subject] = "short body " + std::to_string(i) + "\r\n";
    const SmtpTransaction t =
        relay.send("second@app.test", {"b@ext.test"},
                   makeMessage("second@app.test", "b@ext.test", subject, body_of[subject]));
    ASSERT_EQ(t.final.code, 250) << t.final;
  }
  EXPECT_EQ(filesIn(free_dir), 0U) << "a new message did not take a free file";

  relay.kill9();
  relay.start();
  ASSERT_EQ(relay.queueList().size(), static_cast<std::size_t>(kMessages));
  smart_host.setPolicy(ScriptedSmtpPolicy{});
  EXPECT_EQ(relay.cli({"queue", "flush"}).exit_status, 0);
  ASSERT_TRUE(smart_host.waitForMessages(2 * kMessages, 10s));
  ASSERT_TRUE(relay.waitForQueueSize(0, 5s)) << relay.queueList().dump(2);
  std::set<std::string> seen;
  for (const auto& txn : smart_host.transactions()) {
    if (txn.mail_from != "second@app.test") {
      continue;
    }
    const auto at = txn.data.find("Subject: ");
    ASSERT_NE(at, std::string::npos) << txn.data;
    const std::string subject = txn.data.substr(at + 9, txn.data.find("\r\n", at) - at - 9);
    ASSERT_EQ(body_of.count(subject), 1U) << subject;
    EXPECT_TRUE(txn.data.ends_with("\r\n\r\n" + body_of[subject])) << txn.data;
    EXPECT_EQ(txn.data.find("~~~"), std::string::npos) << "a leftover of the earlier message";
    seen.insert(subject);
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kMessages));
}

// A message's first attempt sends the bytes the acceptor handed over with it, which the
// scheduler keeps for all queued messages together within Scheduler::kMaxHeldBytes; past that, a
// message is read back from its queue file. Made visible by changing the queue files on disk
// (and their checksums) while the only delivery slot is held: the messages that arrive changed
// are those read back, and they are exactly the ones queued after the budget was full.
TEST_F(DeliveryTest, BytesKeptForFirstAttemptsStayWithinTheirBudget) {
  auto release = std::make_shared<std::promise<void>>();
  std::shared_future<void> released = release->get_future().share();
  auto held_first = std::make_shared<std::atomic<bool>>(false);
  ScriptedSmtpPolicy policy;
  policy.command_hook = [released, held_first](const std::string& line) {
    if (line.starts_with("MAIL") && !held_first->exchange(true)) {
      released.wait();  // the relay's one delivery slot stays busy
    }
    return std::string();
  };
  ScriptedSmtpServer smart_host(policy);
  RelayOptions o;
  o.smart_hosts = {smart_host.address()};
  o.delivery = {"retry = [\"1s\"]",          "max_age = \"1d\"",    "connect_timeout = \"2s\"",
                "command_timeout = \"60s\"", "idle_reuse = \"1s\"", "concurrency = 1"};
  Relay& relay = startRelay(o);

  // 40 messages of about 1,000,000 octets (each under the 1 MiB the acceptor hands over): 40 MB.
  constexpr int kMessages = 40;
  std::string filler;
  for (int line = 0; line < 10000; ++line) {
    filler += std::string(98, '~') + "\r\n";
  }
  const auto marker = [](const char* what, int i) {
    return std::string(what) + "-" + std::to_string(100 + i);  // one length for every i
  };
  for (int i = 0; i < kMessages; ++i) {
    const SmtpTransaction t =
        relay.send("held@app.test", {"a@ext.test"},
                   makeMessage("held@app.test", "a@ext.test", marker("subject", i),
                               marker("ORIGINAL", i) + "\r\n" + filler));
    ASSERT_EQ(t.final.code, 250) << t.final;
    if (i == 0) {
      ASSERT_TRUE(waitUntil([&] { return held_first->load(); }, 10s)) << "no delivery started";
    }
  }

  // Every queue file now says REPLACED where the message said ORIGINAL (same length, in place).
  std::uintmax_t stored = 0;  // octets of one message's bytes in its queue file
  int changed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(relay.spoolDir() / "queue")) {
    if (entry.path().extension() != ".msg") {
      continue;
    }
    std::string content = readFile(entry.path());
    const auto newline = content.find('\n');
    std::string bytes = content.substr(newline + 1);
    const auto at = bytes.find("ORIGINAL-");
    ASSERT_NE(at, std::string::npos) << entry.path();
    stored = bytes.size();
    bytes.replace(at, 8, "REPLACED");
    // With the record line's checksum to match, or the relay would drop the file as torn.
    auto record = nlohmann::json::parse(content.substr(0, newline));
    record["crc"] =
        crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size()));
    std::ofstream(entry.path(), std::ios::binary | std::ios::trunc) << record.dump() << '\n'
                                                                    << bytes;
    ++changed;
  }
  ASSERT_EQ(changed, kMessages);
  release->set_value();

  ASSERT_TRUE(smart_host.waitForMessages(kMessages, 30s));
  ASSERT_TRUE(relay.waitForQueueSize(0, 10s)) << relay.queueList().dump(2);
  std::map<int, bool> original;  // message number -> arrived as accepted
  for (const auto& txn : smart_host.transactions()) {
    for (int i = 0; i < kMessages; ++i) {
      if (txn.data.find(marker("subject", i) + "\r\n") != std::string::npos) {
        const bool as_sent = txn.data.find(marker("ORIGINAL", i)) != std::string::npos;
        EXPECT_TRUE(as_sent || txn.data.find(marker("REPLACED", i)) != std::string::npos);
        original[i] = as_sent;
      }
    }
  }
  ASSERT_EQ(original.size(), static_cast<std::size_t>(kMessages));
  // The first message's bytes left the budget when its attempt began; then the budget took the
  // next ones in order while they fitted, and none after.
  const auto fits = static_cast<int>(delivery::Scheduler::kMaxHeldBytes / stored);
  int kept = 0;
  while (kept < kMessages && original[kept]) {
    ++kept;
  }
  for (int i = kept; i < kMessages; ++i) {
    EXPECT_FALSE(original[i]) << "message " << i << " sent from memory after one read back";
  }
  EXPECT_GE(kept, fits) << "fewer messages kept than " << delivery::Scheduler::kMaxHeldBytes
                        << " octets hold";
  EXPECT_LE(kept, fits + 1) << "more messages kept than the budget holds";
}

TEST_F(DeliveryTest, TemporaryRecipientFailureIsRetried) {
  auto rcpt_calls = std::make_shared<std::atomic<int>>(0);
  ScriptedSmtpPolicy policy;
  policy.rcpt_reply = [rcpt_calls](const std::string&) -> std::string {
    return ++*rcpt_calls == 1 ? "451 4.3.0 try again later" : "";
  };
  ScriptedSmtpServer smart_host(policy);
  RelayOptions o;
  o.smart_hosts = {smart_host.address()};
  Relay& relay = startRelay(o);

  const SmtpTransaction t =
      relay.send("retry@app.test", {"later@ext.test"},
                 makeMessage("retry@app.test", "later@ext.test", "retry rcpt", "again\r\n"));
  ASSERT_EQ(t.final.code, 250) << t.final;
  ASSERT_TRUE(smart_host.waitForMessages(1, 10s)) << "not delivered on a later attempt";
  const auto txns = smart_host.transactions();
  ASSERT_EQ(txns.size(), 1U);
  EXPECT_EQ(txns[0].rcpt_to, std::vector<std::string>{"later@ext.test"});
  EXPECT_NE(txns[0].data.find("Subject: retry rcpt\r\n"), std::string::npos);
  EXPECT_GE(rcpt_calls->load(), 2);
  EXPECT_TRUE(relay.waitForQueueSize(0, 5s)) << relay.queueList().dump(2);
  EXPECT_EQ(relay.queueList(), nlohmann::json::array());
}

TEST_F(DeliveryTest, TemporaryDataFailureIsRetried) {
  auto data_calls = std::make_shared<std::atomic<int>>(0);
  ScriptedSmtpPolicy policy;
  policy.end_of_data_reply = [data_calls](const ScriptedTransaction&) -> std::string {
    return ++*data_calls == 1 ? "451 4.3.0 queue full, try later" : "";
  };
  ScriptedSmtpServer smart_host(policy);
  RelayOptions o;
  o.smart_hosts = {smart_host.address()};
  Relay& relay = startRelay(o);

  const SmtpTransaction t =
      relay.send("retry@app.test", {"later@ext.test"},
                 makeMessage("retry@app.test", "later@ext.test", "retry data", "again\r\n"));
  ASSERT_EQ(t.final.code, 250) << t.final;
  ASSERT_TRUE(smart_host.waitForMessages(2, 10s)) << "no second attempt";
  ASSERT_TRUE(relay.waitForQueueSize(0, 5s)) << relay.queueList().dump(2);
  const auto txns = smart_host.transactions();
  ASSERT_EQ(txns.size(), 2U);
  EXPECT_TRUE(txns[0].final_reply.starts_with("451")) << txns[0].final_reply;
  EXPECT_TRUE(txns[1].final_reply.starts_with("250")) << txns[1].final_reply;
  EXPECT_EQ(txns[1].data, txns[0].data) << "the retried message differs from the first attempt";
}

TEST_F(DeliveryTest, PermanentFailureBouncesToSender) {
  ScriptedSmtpPolicy policy;
  policy.rcpt_replies["bad@ext.test"] = "550 5.1.1 <bad@ext.test>: no such user";
  ScriptedSmtpServer smart_host(policy);
  RelayOptions o;
  o.smart_hosts = {smart_host.address()};
  Relay& relay = startRelay(o);

  const SmtpTransaction t = relay.send(
      "sender@app.test", {"good@ext.test", "bad@ext.test"},
      makeMessage("sender@app.test", "good@ext.test", "partly bad", "to two people\r\n"));
  ASSERT_EQ(t.final.code, 250) << t.final;

  ASSERT_TRUE(smart_host.waitForMessages(2, 10s)) << "expected the message and a bounce";
  ASSERT_TRUE(relay.waitForQueueSize(0, 5s)) << relay.queueList().dump(2);
  std::this_thread::sleep_for(500ms);
  const auto txns = smart_host.transactions();
  ASSERT_EQ(txns.size(), 2U);

  int to_good = 0;
  const ScriptedTransaction* bounce = nullptr;
  for (const auto& tx : txns) {
    if (tx.mail_from == "sender@app.test") {
      EXPECT_EQ(tx.rcpt_to, std::vector<std::string>{"good@ext.test"});
      EXPECT_EQ(tx.rcpt_refused, std::vector<std::string>{"bad@ext.test"});
      ++to_good;
    } else if (tx.mail_from.empty()) {
      bounce = &tx;
    }
  }
  EXPECT_EQ(to_good, 1) << "the good recipient must get the message exactly once";
  ASSERT_NE(bounce, nullptr) << "no bounce with MAIL FROM:<>";
  EXPECT_EQ(bounce->rcpt_to, std::vector<std::string>{"sender@app.test"});
  const std::string& dsn = bounce->data;
  EXPECT_NE(dsn.find("Content-Type: multipart/report; report-type=delivery-status"),
            std::string::npos)
      << dsn;
  EXPECT_NE(dsn.find("Final-Recipient: rfc822; bad@ext.test\r\n"), std::string::npos) << dsn;
  EXPECT_NE(dsn.find("Action: failed\r\n"), std::string::npos) << dsn;
  EXPECT_NE(dsn.find("Status: 5.1.1\r\n"), std::string::npos) << dsn;
  EXPECT_EQ(dsn.find("Final-Recipient: rfc822; good@ext.test"), std::string::npos) << dsn;
  EXPECT_EQ(countOf(dsn, "Final-Recipient:"), 1U) << dsn;
  EXPECT_EQ(countOf(dsn, "Action: failed"), 1U) << dsn;
}

TEST_F(DeliveryTest, NoBounceForNullSender) {
  ScriptedSmtpPolicy policy;
  policy.rcpt_replies["bad@ext.test"] = "550 5.1.1 <bad@ext.test>: no such user";
  ScriptedSmtpServer smart_host(policy);
  RelayOptions o;
  o.smart_hosts = {smart_host.address()};
  Relay& relay = startRelay(o);

  const SmtpTransaction t = relay.send(
      "", {"bad@ext.test"},
      makeMessage("mailer-daemon@app.test", "bad@ext.test", "a bounce that bounces", "oops\r\n"));
  ASSERT_EQ(t.final.code, 250) << t.final;
  ASSERT_TRUE(smart_host.waitForCommands("RCPT", 1, 10s)) << "no delivery attempt";
  // Done with the message: removed from the queue, and nothing new (a bounce) queued instead.
  ASSERT_TRUE(relay.waitForQueueSize(0, 5s)) << relay.queueList().dump(2);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(relay.queueList(), nlohmann::json::array());
  EXPECT_TRUE(smart_host.transactions().empty()) << "something was delivered";
  EXPECT_EQ(smart_host.commandCount("MAIL"), 1U) << "a second transaction was attempted";
  EXPECT_EQ(smart_host.commandCount("RCPT"), 1U);
}

}  // namespace
}  // namespace relayguard::test
