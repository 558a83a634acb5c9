// spool_test: durable commit, read-back, update, removal, listing and start-up recovery of the
// message spool, including that a failed commit leaves nothing behind.
#include "core/queue/spool.hpp"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <zlib.h>

#include "core/util/durable_file.hpp"
#include "core/util/time_format.hpp"
#include "tests/support/temp_dir.hpp"

namespace relayguard::queue {
namespace {

namespace fs = std::filesystem;

Address mailbox(const std::string& text) {
  auto a = Address::parseMailbox(text);
  if (!a) {
    ADD_FAILURE() << "bad test address " << text;
    return Address::null();
  }
  return *a;
}

QueuedMessage makeRecord(std::uint64_t size = 42) {
  Envelope env;
  env.mail_from = mailbox("sender@example.com");
  env.rcpt_to = {mailbox("one@example.net"), mailbox("two@example.org")};
  env.client_ip = "192.0.2.7";
  env.helo = "client.example";
  env.auth_user = "alice";
  env.tls = true;
  env.smtputf8 = true;
  env.body_8bit = true;
  env.received = fromUnixSeconds(1700000000);
  return QueuedMessage::fromEnvelope(QueueId::generate(), env, size);
}

// The names in a folder, sorted.
std::vector<std::string> names(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void expectSameRecord(const QueuedMessage& a, const QueuedMessage& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.envelope.mail_from, b.envelope.mail_from);
  EXPECT_EQ(a.envelope.rcpt_to, b.envelope.rcpt_to);
  EXPECT_EQ(a.envelope.client_ip, b.envelope.client_ip);
  EXPECT_EQ(a.envelope.helo, b.envelope.helo);
  EXPECT_EQ(a.envelope.auth_user, b.envelope.auth_user);
  EXPECT_EQ(a.envelope.tls, b.envelope.tls);
  EXPECT_EQ(a.envelope.smtputf8, b.envelope.smtputf8);
  EXPECT_EQ(a.envelope.body_8bit, b.envelope.body_8bit);
  EXPECT_EQ(a.envelope.received, b.envelope.received);
  EXPECT_EQ(a.size, b.size);
  EXPECT_EQ(a.attempts, b.attempts);
  EXPECT_EQ(a.next_attempt, b.next_attempt);
  EXPECT_EQ(a.last_error, b.last_error);
  ASSERT_EQ(a.recipients.size(), b.recipients.size());
  for (std::size_t i = 0; i < a.recipients.size(); ++i) {
    EXPECT_EQ(a.recipients[i].address, b.recipients[i].address);
    EXPECT_EQ(a.recipients[i].status, b.recipients[i].status);
    EXPECT_EQ(a.recipients[i].last_reply, b.recipients[i].last_reply);
    EXPECT_EQ(a.recipients[i].remote, b.recipients[i].remote);
    EXPECT_EQ(a.recipients[i].bounced, b.recipients[i].bounced);
  }
}

// What place() writes: the record line (the record, the CRC-32 of the bytes after it, spaces up
// to a multiple of kSizeStep), then the bytes; read back by every reader as they were given.
void expectStoredAs(const Spool& spool, const QueuedMessage& record, const std::string& bytes) {
  const std::string file = readFile(spool.messagePath(record.id));
  EXPECT_EQ(file.size() % Spool::kSizeStep, 0U) << file.size();
  const auto newline = file.find('\n');
  ASSERT_NE(newline, std::string::npos);
  EXPECT_EQ(file.substr(newline + 1), bytes);
  const auto line = nlohmann::json::parse(file.substr(0, newline));
  EXPECT_EQ(
      line.at("crc").get<std::uint64_t>(),
      crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
  EXPECT_EQ(spool.readMessage(record.id), bytes);
  EXPECT_EQ(spool.loadMessage(record.id).data(), bytes);
  const auto back = spool.read(record.id);
  ASSERT_TRUE(back.has_value());
  expectSameRecord(*back, record);
}

std::uintmax_t sizeOf(const fs::path& path) {
  return fs::file_size(path);
}

TEST(Spool, CreatesPrivateFolders) {
  test::TempDir dir;
  const Spool spool(dir.path() / "spool");
  EXPECT_EQ(spool.root(), dir.path() / "spool");
  for (const char* sub : {"", "tmp", "queue", "corrupt", "free"}) {
    struct stat st {};
    ASSERT_EQ(::stat((dir.path() / "spool" / sub).c_str(), &st), 0) << sub;
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << sub;
    EXPECT_EQ(st.st_mode & 0777, 0700U) << sub;
  }
}

TEST(Spool, CommitThenReadBack) {
  test::TempDir dir;
  Spool spool(dir.path());
  const auto record = makeRecord();
  const std::string bytes("Subject: t\r\n\r\nbinary \0\xff\x80 ok\r\n", 29);
  spool.commit(record, bytes);

  EXPECT_TRUE(spool.exists(record.id));
  EXPECT_EQ(spool.messagePath(record.id), dir.path() / "queue" / (record.id.str() + ".msg"));
  EXPECT_EQ(spool.recordPath(record.id), dir.path() / "queue" / (record.id.str() + ".env"));
  // One file per message: the record as accepted in its first line, then the message.
  EXPECT_EQ(names(dir.path() / "queue"), (std::vector<std::string>{record.id.str() + ".msg"}));
  EXPECT_EQ(readFile(spool.messagePath(record.id)), record.toJson().dump() + "\n" + bytes);
  EXPECT_TRUE(names(dir.path() / "tmp").empty());

  EXPECT_EQ(spool.readMessage(record.id), bytes);
  EXPECT_EQ(spool.loadMessage(record.id).data(), bytes);
  EXPECT_FALSE(spool.loadMessage(record.id).mapped());
  const auto back = spool.read(record.id);
  ASSERT_TRUE(back.has_value());
  expectSameRecord(*back, record);
  EXPECT_EQ(back->envelope.mail_from.str(), "sender@example.com");
  ASSERT_EQ(back->recipients.size(), 2U);
  EXPECT_EQ(back->recipients[1].address.str(), "two@example.org");
  EXPECT_EQ(back->recipients[1].status, RecipientStatus::kPending);
  EXPECT_EQ(back->envelope.auth_user, std::optional<std::string>("alice"));
  EXPECT_EQ(back->next_attempt, fromUnixSeconds(1700000000));
}

// commit() in two halves: place() leaves the same file in queue/ (and nothing in tmp/), ready to
// read, and syncQueue() completes it; recover() finds it like any committed message.
TEST(Spool, PlaceThenSyncQueueStoresWhatCommitStores) {
  test::TempDir dir;
  Spool spool(dir.path());
  const auto record = makeRecord();
  spool.place(record, "body\r\n", "X-Added: 1\r\n");
  EXPECT_EQ(names(dir.path() / "queue"), (std::vector<std::string>{record.id.str() + ".msg"}));
  EXPECT_TRUE(names(dir.path() / "tmp").empty());
  expectStoredAs(spool, record, "X-Added: 1\r\nbody\r\n");
  spool.syncQueue();
  const auto recovered = Spool(dir.path()).recover();
  ASSERT_EQ(recovered.size(), 1U);
  expectSameRecord(recovered.front(), record);
}

TEST(Spool, StoresTheAddedHeadersInFrontOfTheMessage) {
  test::TempDir dir;
  Spool spool(dir.path());
  const auto record = makeRecord();
  spool.commit(record, "Subject: t\r\n\r\nbody\r\n", "Received: from x\r\n");
  EXPECT_EQ(spool.readMessage(record.id), "Received: from x\r\nSubject: t\r\n\r\nbody\r\n");
}

TEST(Spool, CommitsNullSenderAndEmptyMessage) {
  test::TempDir dir;
  Spool spool(dir.path());
  auto record = makeRecord(0);
  record.envelope.mail_from = Address::null();
  record.envelope.auth_user.reset();
  spool.commit(record, "");
  EXPECT_EQ(spool.readMessage(record.id), "");
  EXPECT_EQ(spool.loadMessage(record.id).data(), "");
  const auto back = spool.read(record.id);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->envelope.mail_from.isNull());
  EXPECT_FALSE(back->envelope.auth_user.has_value());
}

TEST(Spool, ReadOfMissingIdIsNullopt) {
  test::TempDir dir;
  const Spool spool(dir.path());
  const auto id = QueueId::generate();
  EXPECT_FALSE(spool.exists(id));
  EXPECT_FALSE(spool.read(id).has_value());
  EXPECT_THROW(spool.readMessage(id), IoError);
  EXPECT_THROW(spool.loadMessage(id), IoError);
}

// A large message is mapped; the mapping outlives the removal of its file (delivery may race a
// `queue delete`), and a replaced file (rename over it) leaves it on the old bytes.
TEST(Spool, LargeMessageIsMappedAndStaysValidWhenTheFileGoes) {
  test::TempDir dir;
  Spool spool(dir.path());
  const auto record = makeRecord();
  const std::string first = "Subject: first\r\n\r\n" + std::string(Spool::kMapAbove, 'x');
  spool.commit(record, first);
  const Spool::StoredMessage stored = spool.loadMessage(record.id);
  EXPECT_TRUE(stored.mapped());
  spool.commit(record, "Subject: second\r\n\r\nbody\r\n");
  EXPECT_TRUE(stored.data() == first);
  EXPECT_TRUE(spool.remove(record.id));
  EXPECT_TRUE(stored.data() == first);
}

TEST(Spool, UpdateReplacesDeliveryState) {
  test::TempDir dir;
  Spool spool(dir.path());
  auto record = makeRecord();
  spool.commit(record, "body\r\n");

  record.recipients[0].status = RecipientStatus::kDelivered;
  record.recipients[0].last_reply = "250 2.0.0 ok";
  record.recipients[0].remote = "mx.example.net";
  record.recipients[1].status = RecipientStatus::kFailed;
  record.recipients[1].last_reply = "550 5.1.1 no such user";
  record.recipients[1].bounced = true;
  record.attempts = 3;
  record.next_attempt = fromUnixSeconds(1700003600);
  record.last_error = "450 4.2.0 busy";
  spool.update(record);

  const auto back = spool.read(record.id);
  ASSERT_TRUE(back.has_value());
  expectSameRecord(*back, record);
  EXPECT_EQ(back->recipients[0].status, RecipientStatus::kDelivered);
  EXPECT_EQ(back->recipients[1].status, RecipientStatus::kFailed);
  EXPECT_TRUE(back->recipients[1].bounced);
  EXPECT_EQ(back->attempts, 3U);
  EXPECT_EQ(back->pendingCount(), 0U);
  EXPECT_EQ(spool.readMessage(record.id), "body\r\n");
  EXPECT_TRUE(names(dir.path() / "tmp").empty());
  // The new state is a file of its own; the message file is never rewritten.
  EXPECT_TRUE(fs::is_regular_file(spool.recordPath(record.id)));
  EXPECT_EQ(spool.list().at(0).attempts, 3U);
}

TEST(Spool, RemoveDeletesBothFiles) {
  test::TempDir dir;
  Spool spool(dir.path());
  auto record = makeRecord();
  spool.commit(record, "x\r\n");
  record.attempts = 1;
  spool.update(record);
  EXPECT_TRUE(spool.remove(record.id));
  EXPECT_FALSE(spool.exists(record.id));
  EXPECT_FALSE(fs::exists(spool.messagePath(record.id)));
  EXPECT_FALSE(fs::exists(spool.recordPath(record.id)));
  EXPECT_TRUE(names(dir.path() / "queue").empty());
  EXPECT_FALSE(spool.remove(record.id));
}

ino_t inodeOf(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

// A delivered message's file goes to free/ and the next message is written over it: the same
// inode, the new bytes whether they are shorter or longer, nothing in tmp/. A message that fills
// the free file after padding leaves its size as it was (the write changes no metadata and is
// flushed by syncQueue()); a much shorter one cuts it, a longer one grows it, to the next step.
TEST(Spool, RetiredFilesAreWrittenOverByTheNextMessages) {
  test::TempDir dir;
  Spool spool(dir.path());
  auto first = makeRecord();
  first.attempts = 1;
  spool.place(first, std::string(6000, 'a'));
  spool.update(first);  // a deferral's record goes with it
  const ino_t inode = inodeOf(spool.messagePath(first.id));
  const auto size = sizeOf(spool.messagePath(first.id));
  spool.retire(first);
  EXPECT_FALSE(spool.exists(first.id));
  EXPECT_TRUE(names(dir.path() / "queue").empty());
  EXPECT_EQ(names(dir.path() / "free"), std::vector<std::string>{first.id.str()});

  const auto same_size = makeRecord();
  const std::string filling(6000 - 12 - 50, 'c');  // 50 bytes less, with its prefix
  spool.place(same_size, filling, "X-Added: 1\r\n");
  EXPECT_EQ(inodeOf(spool.messagePath(same_size.id)), inode);
  EXPECT_EQ(sizeOf(spool.messagePath(same_size.id)), size);
  expectStoredAs(spool, same_size, "X-Added: 1\r\n" + filling);
  EXPECT_TRUE(names(dir.path() / "free").empty());
  EXPECT_TRUE(names(dir.path() / "tmp").empty());
  spool.syncQueue();

  spool.retire(same_size);
  const auto shorter = makeRecord();
  spool.place(shorter, "short\r\n", "X-Added: 1\r\n");
  EXPECT_EQ(inodeOf(spool.messagePath(shorter.id)), inode);
  EXPECT_LT(sizeOf(spool.messagePath(shorter.id)), size);
  expectStoredAs(spool, shorter, "X-Added: 1\r\nshort\r\n");

  spool.retire(shorter);
  const auto longer = makeRecord();
  const std::string body(9000, 'b');
  spool.place(longer, body);
  EXPECT_EQ(inodeOf(spool.messagePath(longer.id)), inode);
  expectStoredAs(spool, longer, body);
  // With no free file left, a new one is made.
  const auto another = makeRecord();
  spool.place(another, "new\r\n");
  EXPECT_NE(inodeOf(spool.messagePath(another.id)), inode);
  expectStoredAs(spool, another, "new\r\n");
}

// Of the free files, place() writes over one the message fills after padding, when there is one,
// rather than the most recently freed.
TEST(Spool, PlaceChoosesAFreeFileTheMessageFills) {
  test::TempDir dir;
  Spool spool(dir.path());
  const auto big = makeRecord();
  spool.place(big, std::string(20000, 'b'));
  const ino_t big_inode = inodeOf(spool.messagePath(big.id));
  const auto small = makeRecord();
  spool.place(small, std::string(3000, 's'));
  const ino_t small_inode = inodeOf(spool.messagePath(small.id));
  const auto small_size = sizeOf(spool.messagePath(small.id));
  spool.retire(small);
  spool.retire(big);  // the most recently freed

  const auto next = makeRecord();
  spool.place(next, std::string(2900, 'n'));
  EXPECT_EQ(inodeOf(spool.messagePath(next.id)), small_inode);
  EXPECT_EQ(sizeOf(spool.messagePath(next.id)), small_size);
  expectStoredAs(spool, next, std::string(2900, 'n'));
  const auto after = makeRecord();
  spool.place(after, std::string(19900, 'a'));
  EXPECT_EQ(inodeOf(spool.messagePath(after.id)), big_inode);
  expectStoredAs(spool, after, std::string(19900, 'a'));
}

// A crash before syncQueue()'s flush can leave a queue file with some of its new bytes and some
// of the delivered message's it was written over. loadMessage() finds out from the CRC-32, moves
// the files to corrupt/ and throws CorruptMessage (the delivery then drops the message, which
// was never acknowledged).
TEST(Spool, LoadMessageRefusesBytesThatDoNotMatchTheirChecksum) {
  test::TempDir dir;
  Spool spool(dir.path());
  auto record = makeRecord();
  spool.place(record, "Subject: x\r\n\r\nthe new message\r\n");
  spool.syncQueue();
  record.attempts = 1;
  spool.update(record);
  {
    const auto path = spool.messagePath(record.id);
    std::string file = readFile(path);
    const auto at = file.find("new message");
    ASSERT_NE(at, std::string::npos);
    file.replace(at, 3, "old");
    std::ofstream(path, std::ios::binary | std::ios::trunc) << file;
  }
  EXPECT_THROW(spool.loadMessage(record.id), CorruptMessage);
  EXPECT_TRUE(names(dir.path() / "queue").empty());
  EXPECT_EQ(names(dir.path() / "corrupt"),
            (std::vector<std::string>{record.id.str() + ".env", record.id.str() + ".msg"}));
}

// A file without a "crc" (commit(), bounces and releases, or written before it existed) is read
// as it is.
TEST(Spool, LoadMessageReadsAFileWithoutChecksum) {
  test::TempDir dir;
  Spool spool(dir.path());
  const auto record = makeRecord();
  spool.commit(record, "Subject: x\r\n\r\nbody\r\n");
  EXPECT_EQ(spool.loadMessage(record.id).data(), "Subject: x\r\n\r\nbody\r\n");
}

// Or the crash can leave a new name on a free file none of whose new bytes reached the disk: the
// record line is the delivered message's. recover() moves it to corrupt/ instead of queueing the
// old message again under the new name.
TEST(Spool, RecoverMovesAFileWithAnotherMessagesRecordToCorrupt) {
  test::TempDir dir;
  const auto delivered = makeRecord();
  const auto kept = makeRecord();
  const auto lost = makeRecord();
  {
    Spool spool(dir.path());
    spool.place(delivered, "delivered\r\n");
    spool.place(kept, "kept\r\n");
    spool.syncQueue();
    fs::copy_file(spool.messagePath(delivered.id), spool.messagePath(lost.id));
    spool.retire(delivered);
  }
  Spool spool(dir.path());
  const auto recovered = spool.recover();
  ASSERT_EQ(recovered.size(), 1U);
  EXPECT_EQ(recovered.front().id, kept.id);
  EXPECT_EQ(names(dir.path() / "corrupt"), std::vector<std::string>{lost.id.str() + ".msg"});
}

// free/ holds at most kMaxFree files, and none of a message past kMapAbove; the others are
// removed as remove() does.
TEST(Spool, RetireKeepsABoundedNumberOfSmallFiles) {
  test::TempDir dir;
  Spool spool(dir.path());
  auto large = makeRecord(Spool::kMapAbove + 1);
  spool.commit(large, "large\r\n");
  spool.retire(large);
  EXPECT_TRUE(names(dir.path() / "free").empty());
  EXPECT_TRUE(names(dir.path() / "queue").empty());
  for (std::size_t i = 0; i <= Spool::kMaxFree; ++i) {
    const auto record = makeRecord();
    spool.commit(record, "x\r\n");
    spool.retire(record);
  }
  EXPECT_EQ(names(dir.path() / "free").size(), Spool::kMaxFree);
  EXPECT_TRUE(names(dir.path() / "queue").empty());
}

// After a restart recover() takes up what free/ holds, but only regular files with one name:
// a symbolic link and a second name of another file are removed, and what they point at is
// never written.
TEST(Spool, RecoverReusesOnlyPlainFreeFiles) {
  test::TempDir dir;
  const auto outside = dir.path() / "outside.txt";
  dir.write("outside.txt", "not the spool's");
  {
    Spool spool(dir.path() / "spool");
    const auto record = makeRecord();
    spool.commit(record, "delivered\r\n");
    spool.retire(record);
  }
  const auto free_dir = dir.path() / "spool" / "free";
  ASSERT_EQ(names(free_dir).size(), 1U);
  const ino_t reusable = inodeOf(free_dir / names(free_dir).front());
  fs::create_symlink(outside, free_dir / "link");
  fs::create_hard_link(outside, free_dir / "hard");

  Spool spool(dir.path() / "spool");
  EXPECT_TRUE(spool.recover().empty());
  EXPECT_EQ(names(free_dir).size(), 1U);
  const auto next = makeRecord();
  spool.place(next, "next\r\n");
  EXPECT_EQ(inodeOf(spool.messagePath(next.id)), reusable);
  EXPECT_EQ(spool.readMessage(next.id), "next\r\n");
  EXPECT_EQ(readFile(outside), "not the spool's");
}

// A free file replaced by something else after recover() (a symbolic link, a FIFO, a second
// name) is not written over: place() drops it and makes a new file.
TEST(Spool, PlaceWritesOverNothingButAPlainFile) {
  test::TempDir dir;
  const auto outside = dir.path() / "outside.txt";
  for (const char* kind : {"symlink", "fifo", "hardlink"}) {
    SCOPED_TRACE(kind);
    dir.write("outside.txt", "not the spool's");
    Spool spool(dir.path() / "spool");
    const auto record = makeRecord();
    spool.commit(record, "delivered\r\n");
    spool.retire(record);
    const auto free_file = dir.path() / "spool" / "free" / record.id.str();
    fs::remove(free_file);
    if (std::string_view(kind) == "symlink") {
      fs::create_symlink(outside, free_file);
    } else if (std::string_view(kind) == "fifo") {
      ASSERT_EQ(::mkfifo(free_file.c_str(), 0600), 0);
    } else {
      fs::create_hard_link(outside, free_file);
    }
    const auto next = makeRecord();
    spool.place(next, "next\r\n");
    EXPECT_EQ(spool.readMessage(next.id), "next\r\n");
    EXPECT_EQ(readFile(outside), "not the spool's");
    EXPECT_TRUE(names(dir.path() / "spool" / "free").empty());
    spool.remove(next.id);
  }
}

TEST(Spool, ListReturnsEveryCommittedMessageInIdOrder) {
  test::TempDir dir;
  Spool spool(dir.path());
  std::vector<QueueId> ids;
  for (int i = 0; i < 3; ++i) {
    const auto record = makeRecord(static_cast<std::uint64_t>(i));
    spool.commit(record, "m\r\n");
    ids.push_back(record.id);
  }
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> problems;
  const auto listed = spool.list(&problems);
  ASSERT_EQ(listed.size(), 3U);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(listed[i].id, ids[i]);
  }
  EXPECT_TRUE(problems.empty());
}

TEST(Spool, ListReportsUnreadableRecords) {
  test::TempDir dir;
  Spool spool(dir.path());
  const auto good = makeRecord();
  spool.commit(good, "m\r\n");
  const auto bad = QueueId::generate();
  dir.write("queue/" + bad.str() + ".env", "{not json");
  dir.write("queue/" + bad.str() + ".msg", "m\r\n");
  std::vector<std::string> problems;
  const auto listed = spool.list(&problems);
  ASSERT_EQ(listed.size(), 1U);
  EXPECT_EQ(listed[0].id, good.id);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_NE(problems[0].find(bad.str()), std::string::npos) << problems[0];
  // list() is read-only: the bad record stays where it is.
  EXPECT_TRUE(fs::exists(dir.path() / "queue" / (bad.str() + ".env")));
  EXPECT_EQ(spool.list().size(), 1U);
}

TEST(Spool, RecoverCleansLeftoversAndKeepsCommittedMessages) {
  test::TempDir dir;
  Spool spool(dir.path());
  const auto committed = makeRecord();
  spool.commit(committed, "committed\r\n");
  auto deferred = makeRecord();
  spool.commit(deferred, "deferred\r\n");
  deferred.attempts = 2;
  deferred.last_error = "451 4.3.0 later";
  spool.update(deferred);

  // A crash mid-commit or mid-update: leftovers under tmp/.
  dir.write("tmp/" + QueueId::generate().str() + ".msg", "half");
  dir.write("tmp/" + committed.id.str() + ".env.new", "{");
  // A crash mid-removal: the record of a message whose file is already gone.
  const auto removed = makeRecord();
  dir.write("queue/" + removed.id.str() + ".env", removed.toJson().dump());
  // A changed record that cannot be read, and a message file without a record line.
  const auto unreadable = QueueId::generate();
  dir.write("queue/" + unreadable.str() + ".env", "this is not json");
  dir.write("queue/" + unreadable.str() + ".msg", makeRecord().toJson().dump() + "\nkept\r\n");
  const auto headless = QueueId::generate();
  dir.write("queue/" + headless.str() + ".msg", "no record line");

  auto recovered = spool.recover();
  ASSERT_EQ(recovered.size(), 2U);
  std::sort(recovered.begin(), recovered.end(),
            [](const auto& a, const auto& b) { return a.id.str() < b.id.str(); });
  const bool committed_first = committed.id.str() < deferred.id.str();
  expectSameRecord(recovered[committed_first ? 0 : 1], committed);
  expectSameRecord(recovered[committed_first ? 1 : 0], deferred);

  EXPECT_TRUE(names(dir.path() / "tmp").empty());
  std::vector<std::string> queued{committed.id.str() + ".msg", deferred.id.str() + ".env",
                                  deferred.id.str() + ".msg"};
  std::sort(queued.begin(), queued.end());
  EXPECT_EQ(names(dir.path() / "queue"), queued);
  std::vector<std::string> corrupt{unreadable.str() + ".env", unreadable.str() + ".msg",
                                   headless.str() + ".msg"};
  std::sort(corrupt.begin(), corrupt.end());
  EXPECT_EQ(names(dir.path() / "corrupt"), corrupt);
  EXPECT_EQ(readFile(dir.path() / "corrupt" / (headless.str() + ".msg")), "no record line");
  EXPECT_EQ(spool.readMessage(committed.id), "committed\r\n");
  EXPECT_EQ(spool.readMessage(deferred.id), "deferred\r\n");

  // A second recovery finds the same state.
  EXPECT_EQ(spool.recover().size(), 2U);
  EXPECT_EQ(names(dir.path() / "corrupt").size(), 3U);
}

// A spool written before the one-file layout: ID.msg held only the bytes to send, ID.env the
// record. Recovery rewrites each message with its record line, so not a byte of it is lost.
TEST(Spool, RecoverUpgradesTheTwoFileLayout) {
  test::TempDir dir;
  Spool spool(dir.path());
  auto old = makeRecord();
  old.attempts = 1;
  old.last_error = "421 4.3.2 busy";
  const std::string bytes = "Received: from client.example\r\nSubject: old\r\n\r\nbody\r\n";
  dir.write("queue/" + old.id.str() + ".msg", bytes);
  dir.write("queue/" + old.id.str() + ".env", old.toJson().dump());

  const auto recovered = spool.recover();
  ASSERT_EQ(recovered.size(), 1U);
  expectSameRecord(recovered[0], old);
  EXPECT_EQ(spool.readMessage(old.id), bytes);
  EXPECT_EQ(readFile(spool.messagePath(old.id)).substr(0, 1), "{");
  EXPECT_TRUE(names(dir.path() / "corrupt").empty());
  // Upgraded once: a second recovery reads the same.
  const auto again = spool.recover();
  ASSERT_EQ(again.size(), 1U);
  expectSameRecord(again[0], old);
  EXPECT_EQ(spool.readMessage(old.id), bytes);
}

// Sessions commit at the same time and share the fsync of queue/: every message must be whole.
TEST(Spool, ConcurrentCommitsAreAllStored) {
  test::TempDir dir;
  Spool spool(dir.path());
  std::vector<QueuedMessage> records;
  for (int i = 0; i < 64; ++i) {
    records.push_back(makeRecord(static_cast<std::uint64_t>(i)));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&spool, &records, t] {
      for (std::size_t i = static_cast<std::size_t>(t); i < records.size(); i += 8) {
        spool.commit(records[i], "message " + std::to_string(i) + "\r\n", "Received: x\r\n");
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(spool.list().size(), records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(spool.readMessage(records[i].id),
              "Received: x\r\nmessage " + std::to_string(i) + "\r\n");
    expectSameRecord(*spool.read(records[i].id), records[i]);
  }
}

TEST(Spool, RecoverMovesRecordWithBadFieldsToCorrupt) {
  test::TempDir dir;
  Spool spool(dir.path());
  auto json = makeRecord().toJson();
  const auto id = QueueId::parse(json["id"].get<std::string>());
  ASSERT_TRUE(id.has_value());
  json["recipients"][0]["status"] = "exploded";
  dir.write("queue/" + id->str() + ".env", json.dump());
  dir.write("queue/" + id->str() + ".msg", "m");
  EXPECT_THROW(spool.read(*id), std::runtime_error);
  EXPECT_TRUE(spool.recover().empty());
  EXPECT_TRUE(names(dir.path() / "queue").empty());
  EXPECT_EQ(names(dir.path() / "corrupt"),
            (std::vector<std::string>{id->str() + ".env", id->str() + ".msg"}));
}

TEST(Spool, RecoverOnEmptySpool) {
  test::TempDir dir;
  Spool spool(dir.path());
  EXPECT_TRUE(spool.recover().empty());
  EXPECT_TRUE(names(dir.path() / "queue").empty());
  EXPECT_TRUE(names(dir.path() / "corrupt").empty());
}

// tmp/ replaced by a file: the first write fails (ENOTDIR, also as root).
TEST(Spool, CommitFailureWritingLeavesNothingBehind) {
  test::TempDir dir;
  Spool spool(dir.path());
  fs::remove(dir.path() / "tmp");
  dir.write("tmp", "not a folder");
  const auto record = makeRecord();
  try {
    spool.commit(record, "body\r\n");
    FAIL() << "commit should have failed";
  } catch (const IoError& e) {
    EXPECT_EQ(e.error(), ENOTDIR);
    EXPECT_FALSE(e.diskFull());
  }
  EXPECT_FALSE(spool.exists(record.id));
  EXPECT_TRUE(names(dir.path() / "queue").empty());
  EXPECT_EQ(spool.list().size(), 0U);
}

// queue/ replaced by a file: both temporary files are written, the first rename fails, and the
// temporary files must be cleaned up.
TEST(Spool, CommitFailureRenamingMessageLeavesNothingBehind) {
  test::TempDir dir;
  Spool spool(dir.path());
  fs::remove(dir.path() / "queue");
  dir.write("queue", "not a folder");
  const auto record = makeRecord();
  try {
    spool.commit(record, "body\r\n");
    FAIL() << "commit should have failed";
  } catch (const IoError& e) {
    EXPECT_EQ(e.error(), ENOTDIR);
  }
  EXPECT_TRUE(names(dir.path() / "tmp").empty());
  EXPECT_EQ(readFile(dir.path() / "queue"), "not a folder");
}

// A folder squatting on queue/ID.msg: the commit rename fails (EISDIR); the temporary file must
// go. The same for place(), commit()'s first half.
TEST(Spool, CommitFailureRenamingIntoPlaceLeavesNothingBehind) {
  for (const bool place : {false, true}) {
    test::TempDir dir;
    Spool spool(dir.path());
    const auto record = makeRecord();
    fs::create_directories(spool.messagePath(record.id) / "busy");
    EXPECT_THROW(place ? spool.place(record, "body\r\n") : spool.commit(record, "body\r\n"),
                 IoError);
    EXPECT_TRUE(names(dir.path() / "tmp").empty());
    EXPECT_EQ(names(dir.path() / "queue"), (std::vector<std::string>{record.id.str() + ".msg"}));
    EXPECT_TRUE(fs::is_directory(spool.messagePath(record.id)));
  }
}

}  // namespace
}  // namespace relayguard::queue
