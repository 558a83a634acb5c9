// audit_log_test: the hash-chained audit log: the chain across rotation, every kind of tampering
// found at the right file and line, keyed anchors, a torn last line, concurrent appenders.
#include "core/audit/audit_log.hpp"

#include <algorithm>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/util/durable_file.hpp"
#include "tests/support/temp_dir.hpp"

namespace relayguard {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kKey = "0123456789abcdef-test-key";

std::vector<std::filesystem::path> files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> lines(const std::filesystem::path& file) {
  std::vector<std::string> out;
  const std::string content = readFile(file);
  std::size_t pos = 0;
  while (pos < content.size()) {
    const auto eol = content.find('\n', pos);
    out.push_back(content.substr(pos, eol - pos));
    pos = eol + 1;
  }
  return out;
}

void writeLines(const std::filesystem::path& file, const std::vector<std::string>& ls) {
  std::string content;
  for (const auto& l : ls) {
    content += l + "\n";
  }
  writeFileSynced(file, content);
}

class AuditLogTest : public ::testing::Test {
 protected:
  std::filesystem::path dir() const { return tmp_.path() / "audit"; }
  void fill(std::size_t n, std::optional<std::string> key = std::nullopt,
            std::uint64_t max_bytes = 64ULL << 20) {
    AuditOptions o;
    o.dir = dir();
    o.anchor_key = std::move(key);
    o.max_file_bytes = max_bytes;
    AuditLog log(o);
    for (std::size_t i = 0; i < n; ++i) {
      log.append({{"event", "verdict"}, {"queue_id", "Q" + std::to_string(i)}});
    }
  }
  test::TempDir tmp_;
};

TEST_F(AuditLogTest, ChainStartsWithZerosAndLinksEveryLine) {
  fill(3);
  const auto f = files(dir());
  ASSERT_EQ(f.size(), 1U);
  const auto ls = lines(f[0]);
  ASSERT_EQ(ls.size(), 3U);
  EXPECT_EQ(nlohmann::json::parse(ls[0])["prev"], std::string(64, '0'));
  EXPECT_EQ(nlohmann::json::parse(ls[1])["prev"], AuditLog::sha256Hex(ls[0]));
  EXPECT_EQ(nlohmann::json::parse(ls[2])["prev"], AuditLog::sha256Hex(ls[1]));
  const auto r = verifyAuditLog(dir(), std::nullopt);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 3U);
}

// append() in two halves: write() puts the chained line in the file at once (in order with
// append()), syncWritten() only waits for the disk.
TEST_F(AuditLogTest, WriteThenSyncWrittenChainsLikeAppend) {
  AuditOptions o;
  o.dir = dir();
  AuditLog log(o);
  log.append({{"event", "verdict"}, {"queue_id", "A"}});
  log.write({{"event", "verdict"}, {"queue_id", "B"}});
  const auto f = files(dir());
  ASSERT_EQ(f.size(), 1U);
  auto ls = lines(f[0]);
  ASSERT_EQ(ls.size(), 2U);
  EXPECT_EQ(nlohmann::json::parse(ls[1])["queue_id"], "B");
  EXPECT_EQ(nlohmann::json::parse(ls[1])["prev"], AuditLog::sha256Hex(ls[0]));
  log.syncWritten();
  log.append({{"event", "verdict"}, {"queue_id", "C"}});
  ls = lines(f[0]);
  ASSERT_EQ(ls.size(), 3U);
  EXPECT_EQ(nlohmann::json::parse(ls[2])["prev"], AuditLog::sha256Hex(ls[1]));
  const auto r = verifyAuditLog(dir(), std::nullopt);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 3U);
}

// A sync is needed only for lines that no completed sync covers: delivery events are written
// without one and synced later, often after a verdict's sync has already covered them.
TEST_F(AuditLogTest, SyncWrittenSyncsOnlyWhatNoSyncCovers) {
  AuditOptions o;
  o.dir = dir();
  o.max_file_bytes = 600;
  AuditLog log(o);
  log.syncWritten();
  EXPECT_EQ(log.syncs(), 0U);  // nothing written yet
  log.write({{"event", "delivery"}, {"queue_id", "A"}});
  log.write({{"event", "delivery"}, {"queue_id", "B"}});
  log.syncWritten();
  EXPECT_EQ(log.syncs(), 1U);  // one for both
  log.syncWritten();
  EXPECT_EQ(log.syncs(), 1U);  // covered already
  log.append({{"event", "verdict"}, {"queue_id", "C"}});
  EXPECT_EQ(log.syncs(), 2U);
  // A rotation fsyncs the file it leaves: what was written there needs no sync of its own.
  const std::string padding(300, 'p');
  log.write({{"event", "delivery"}, {"queue_id", "D"}, {"padding", padding}});
  log.write({{"event", "delivery"}, {"queue_id", "E"}, {"padding", padding}});
  ASSERT_EQ(files(dir()).size(), 2U);
  log.syncWritten();
  EXPECT_EQ(log.syncs(), 3U);  // E, in the new file
  log.syncWritten();
  EXPECT_EQ(log.syncs(), 3U);
  EXPECT_TRUE(verifyAuditLog(dir(), std::nullopt).ok);
}

TEST_F(AuditLogTest, ChainContinuesAcrossRotationAndReopen) {
  fill(40, std::nullopt, 4096);
  fill(5, std::nullopt, 4096);  // reopening continues the chain from the last line
  EXPECT_GE(files(dir()).size(), 2U);
  const auto r = verifyAuditLog(dir(), std::nullopt);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 45U);
}

TEST_F(AuditLogTest, OneChangedByteIsFoundAtTheNextLine) {
  fill(5);
  const auto f = files(dir())[0];
  auto ls = lines(f);
  ls[2].replace(ls[2].find("Q2"), 2, "Q9");
  writeLines(f, ls);
  const auto r = verifyAuditLog(dir(), std::nullopt);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.problem, StartsWith(f.string() + ":4: "));
}

TEST_F(AuditLogTest, DeletedLineIsFound) {
  fill(5);
  const auto f = files(dir())[0];
  auto ls = lines(f);
  ls.erase(ls.begin() + 1);
  writeLines(f, ls);
  EXPECT_THAT(verifyAuditLog(dir(), std::nullopt).problem, StartsWith(f.string() + ":2: "));
}

TEST_F(AuditLogTest, SwappedLinesAreFound) {
  fill(5);
  const auto f = files(dir())[0];
  auto ls = lines(f);
  std::swap(ls[2], ls[3]);
  writeLines(f, ls);
  EXPECT_THAT(verifyAuditLog(dir(), std::nullopt).problem, StartsWith(f.string() + ":3: "));
}

TEST_F(AuditLogTest, DeletedFirstFileIsFound) {
  fill(40, std::nullopt, 4096);
  const auto f = files(dir());
  ASSERT_GE(f.size(), 2U);
  std::filesystem::remove(f[0]);
  EXPECT_THAT(verifyAuditLog(dir(), std::nullopt).problem, StartsWith(f[1].string() + ":1: "));
}

TEST_F(AuditLogTest, AnchorsVerifyOnlyWithTheRightKey) {
  fill(3, kKey);  // closing writes an anchor
  const auto ok = verifyAuditLog(dir(), kKey);
  EXPECT_TRUE(ok.ok) << ok.problem;
  EXPECT_EQ(ok.anchors, 1U);
  EXPECT_EQ(ok.unanchored_tail, 0U);
  EXPECT_FALSE(ok.last_anchor_time.empty());
  const auto wrong = verifyAuditLog(dir(), std::string("another-key-0123456789"));
  EXPECT_FALSE(wrong.ok);
  EXPECT_THAT(wrong.problem, HasSubstr(":4: anchor does not verify"));
}

TEST_F(AuditLogTest, RewrittenChainFailsTheKeyedAnchor) {
  fill(3, kKey);
  const auto f = files(dir())[0];
  auto ls = lines(f);
  // An attacker without the key edits line 1 and recomputes every prev after it.
  ls[0].replace(ls[0].find("Q0"), 2, "QX");
  for (std::size_t i = 1; i < ls.size(); ++i) {
    auto j = nlohmann::json::parse(ls[i]);
    j["prev"] = AuditLog::sha256Hex(ls[i - 1]);
    ls[i] = j.dump();
  }
  writeLines(f, ls);
  EXPECT_TRUE(verifyAuditLog(dir(), std::nullopt).ok) << "the plain chain cannot tell";
  const auto r = verifyAuditLog(dir(), kKey);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.problem, StartsWith(f.string() + ":4: anchor does not verify"));
}

TEST_F(AuditLogTest, TruncatedTailShowsAsAnOlderLastAnchor) {
  fill(3, kKey);
  const auto first = verifyAuditLog(dir(), kKey);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  fill(3, kKey);
  const auto full = verifyAuditLog(dir(), kKey);
  ASSERT_TRUE(full.ok) << full.problem;
  EXPECT_EQ(full.anchors, 2U);
  // Cut the second session's file: its lines and its anchor.
  const auto f = files(dir());
  ASSERT_EQ(f.size(), 2U);
  std::filesystem::remove(f[1]);
  const auto cut = verifyAuditLog(dir(), kKey);
  EXPECT_TRUE(cut.ok);
  EXPECT_EQ(cut.last_anchor_time, first.last_anchor_time);
  EXPECT_LT(cut.last_anchor_time, full.last_anchor_time);
}

TEST_F(AuditLogTest, KeyGivenButNoAnchorFails) {
  fill(2);
  const auto r = verifyAuditLog(dir(), kKey);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.problem, HasSubstr("no anchor verifies"));
}

TEST_F(AuditLogTest, TornLastLineIsCutOnReopen) {
  fill(2);
  const auto f = files(dir())[0];
  std::string content = readFile(f) + "{\"event\":\"verdict\",\"qu";
  writeFileSynced(f, content);
  EXPECT_THAT(verifyAuditLog(dir(), std::nullopt).problem, HasSubstr(":3: incomplete last line"));
  fill(1);
  const auto r = verifyAuditLog(dir(), std::nullopt);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 3U);
}

TEST_F(AuditLogTest, ConcurrentAppendersKeepOneChain) {
  {
    AuditOptions o;
    o.dir = dir();
    AuditLog log(o);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&log, t] {
        for (int i = 0; i < 100; ++i) {
          log.append({{"event", "verdict"}, {"t", t}, {"i", i}});
        }
      });
    }
    for (auto& th : threads) {
      th.join();
    }
  }
  const auto r = verifyAuditLog(dir(), std::nullopt);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 400U);
}

}  // namespace
}  // namespace relayguard
