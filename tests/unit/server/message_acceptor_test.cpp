// message_acceptor_test: the Received: header the relay adds to every message, and what the
// acceptor stores and records for an accepted message (the queue file and the verdict line made
// durable by one shared sync), also when the audit log cannot take the line.
#include "core/server/message_acceptor.hpp"

#include <algorithm>
#include <csignal>
#include <fstream>
#include <future>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include "tests/support/temp_dir.hpp"

namespace relayguard {
namespace {

Envelope envelope(const char* ip, std::size_t rcpts) {
  Envelope env;
  env.helo = "client.example.test";
  env.client_ip = ip;
  env.mail_from = *Address::parseMailbox("a@example.test");
  for (std::size_t i = 0; i < rcpts; ++i) {
    env.rcpt_to.push_back(*Address::parseMailbox("r" + std::to_string(i) + "@example.test"));
  }
  env.received = fromUnixSeconds(1'700'000'000);
  return env;
}

TEST(ReceivedHeader, NamesClientHostAndQueueId) {
  const auto h = receivedHeader(envelope("192.0.2.7", 1), "relay.example.test", "ABCDEFGH12345678");
  EXPECT_EQ(h,
            "Received: from client.example.test ([192.0.2.7])\r\n"
            "\tby relay.example.test (relayguard) with ESMTP id ABCDEFGH12345678\r\n"
            "\tfor <r0@example.test>; Tue, 14 Nov 2023 22:13:20 +0000\r\n");
}

TEST(ReceivedHeader, OmitsForWithSeveralRecipientsAndMarksIpv6AndAuth) {
  auto env = envelope("2001:db8::1", 2);
  env.auth_user = "app";
  env.tls = true;
  const auto h = receivedHeader(env, "relay.example.test", "ABCDEFGH12345678");
  EXPECT_NE(h.find("([IPv6:2001:db8::1])"), std::string::npos);
  EXPECT_NE(h.find("with ESMTPSA id"), std::string::npos);
  EXPECT_EQ(h.find("for <"), std::string::npos);
}

AuditOptions auditOptions(const std::filesystem::path& dir) {
  AuditOptions o;
  o.dir = dir;
  return o;
}

// A MessageAcceptor over a real spool, quarantine area and audit log in a temporary folder,
// with an empty pipeline (every message is accepted).
class AcceptorTest : public ::testing::Test {
 protected:
  AcceptorTest() {
    std::ofstream(dir_.path() / "pipeline.toml") << "# no stages\n";
    pipeline_.store(filters::Pipeline::load(dir_.path()));
    config_.hostname = "relay.example.test";
    config_.spool_dir = spoolDir();
  }
  ~AcceptorTest() override { blocking_.join(); }

  std::filesystem::path spoolDir() const { return dir_.path() / "spool"; }

  // Hands `count` messages to the acceptor at once, as that many sessions would.
  std::vector<smtp::Reply> accept(int count, std::string_view message = kMessage) {
    asio::io_context io;
    MessageAcceptor acceptor(config_, spool_, quarantine_, pipeline_, audit_, blocking_,
                             [this](queue::QueuedMessage m, std::string bytes) {
                               queued_.push_back(m.id.str());
                               handed_.push_back(std::move(bytes));
                             });
    const Envelope env = envelope("192.0.2.7", 1);
    std::vector<std::future<smtp::Reply>> replies;
    for (int i = 0; i < count; ++i) {
      replies.push_back(
          asio::co_spawn(io, acceptor.handleMessage(env, PagedBytes(message)), asio::use_future));
    }
    io.run();
    std::vector<smtp::Reply> out;
    for (auto& r : replies) {
      out.push_back(r.get());
    }
    return out;
  }

  std::vector<std::string> queueFiles() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(spoolDir() / "queue")) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // The queue ids of the verdict lines in the audit log, in order.
  std::vector<std::string> auditedIds() const {
    std::vector<std::string> out;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(spoolDir() / "audit")) {
      files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::ifstream in(f);
      for (std::string line; std::getline(in, line);) {
        const auto j = nlohmann::json::parse(line);
        if (j.contains("queue_id")) {
          out.push_back(j["queue_id"].get<std::string>());
        }
      }
    }
    return out;
  }

  static constexpr const char* kMessage = "From: a@example.test\r\nSubject: hi\r\n\r\nhello\r\n";
  test::TempDir dir_;
  Config config_;
  queue::Spool spool_{dir_.path() / "spool"};
  QuarantineStore quarantine_{dir_.path() / "spool"};
  AuditLog audit_{auditOptions(dir_.path() / "spool" / "audit")};
  PipelineSlot pipeline_;
  asio::thread_pool blocking_{4};
  std::vector<std::string> queued_;
  std::vector<std::string> handed_;  // the bytes handed on with each queued message
};

TEST_F(AcceptorTest, ConcurrentMessagesAreEachQueuedAndRecordedOnce) {
  const auto replies = accept(24);
  for (const auto& r : replies) {
    EXPECT_EQ(r.code, 250) << r.text;
  }
  ASSERT_EQ(queued_.size(), 24U);
  std::vector<std::string> expected;
  for (const auto& id : queued_) {
    expected.push_back(id + ".msg");
  }
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(queueFiles(), expected);
  auto audited = auditedIds();
  std::sort(audited.begin(), audited.end());
  auto ids = queued_;
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(audited, ids);
  EXPECT_TRUE(std::filesystem::is_empty(spoolDir() / "tmp"));
  EXPECT_TRUE(verifyAuditLog(spoolDir() / "audit", std::nullopt).ok);
  // Each file is the record line, the Received: field the relay adds, then the message.
  const auto stored = spool_.readMessage(*queue::QueueId::parse(queued_.front()));
  EXPECT_TRUE(stored.starts_with("Received: from client.example.test"));
  EXPECT_TRUE(stored.ends_with(kMessage));
  // The delivery gets exactly those bytes with the message, so it need not read them back.
  EXPECT_EQ(handed_.front(), stored);
}

// Past Spool::kMapAbove the delivery maps the queue file instead: nothing is handed on.
TEST_F(AcceptorTest, LargeMessagesAreHandedOnWithoutTheirBytes) {
  const std::string large = std::string(kMessage) + std::string(queue::Spool::kMapAbove, 'x');
  ASSERT_EQ(accept(1, large).front().code, 250);
  ASSERT_EQ(handed_.size(), 1U);
  EXPECT_TRUE(handed_.front().empty());
  EXPECT_TRUE(spool_.readMessage(*queue::QueueId::parse(queued_.front())).ends_with(large));
}

// The audit log cannot grow (RLIMIT_FSIZE at its current size; writes past it fail with EFBIG,
// also as root): the message is answered 451 and taken back out of the queue, and the next one
// is accepted once the log can be written again.
TEST_F(AcceptorTest, MessageTheAuditLogCannotRecordIsNotQueued) {
  ASSERT_EQ(accept(5).front().code, 250);
  std::uintmax_t audit_bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(spoolDir() / "audit")) {
    audit_bytes += e.file_size();
  }
  const auto before = queueFiles();
  ASSERT_EQ(before.size(), 5U);
  // The queue file of another such message stays under the limit; the next audit line cannot.
  ASSERT_LT(std::filesystem::file_size(spoolDir() / "queue" / before.front()), audit_bytes);

  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit tight = old;
  tight.rlim_cur = audit_bytes;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &tight), 0);
  const auto refused = accept(2);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old), 0);
  std::signal(SIGXFSZ, old_handler);

  for (const auto& r : refused) {
    EXPECT_EQ(r.code, 451);
    EXPECT_EQ(r.enhanced, "4.3.0");
  }
  EXPECT_EQ(queueFiles(), before);
  EXPECT_EQ(queued_.size(), 5U);
  EXPECT_TRUE(std::filesystem::is_empty(spoolDir() / "tmp"));
  EXPECT_TRUE(verifyAuditLog(spoolDir() / "audit", std::nullopt).ok);

  ASSERT_EQ(accept(1).front().code, 250);
  EXPECT_EQ(queueFiles().size(), 6U);
  EXPECT_EQ(auditedIds().size(), 6U);
}

}  // namespace
}  // namespace relayguard
