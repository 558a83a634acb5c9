// durable_file_test: the crash-safe write helpers leave either the whole new file or nothing, and
// Existing::kNew never replaces what is already there.
#include "core/util/durable_file.hpp"

#include <cerrno>
#include <filesystem>
#include <functional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/temp_dir.hpp"

namespace relayguard {
namespace {

using test::TempDir;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

int errorOf(const auto& write) {
  try {
    write();
  } catch (const IoError& e) {
    return e.error();
  }
  return 0;
}

TEST(DurableFile, WritesThroughATemporaryNameWithTheGivenMode) {
  TempDir dir;
  writeFileDurably(dir.path() / "f.tmp", dir.path() / "f", "hello", 0640);
  EXPECT_EQ(readFile(dir.path() / "f"), "hello");
  EXPECT_FALSE(fs::exists(dir.path() / "f.tmp"));
  EXPECT_EQ(fs::status(dir.path() / "f").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  writeFileDurably(dir.path() / "f.tmp", dir.path() / "f", "again");
  EXPECT_EQ(readFile(dir.path() / "f"), "again");
}

TEST(DurableFile, AFailedRenameLeavesNeitherFile) {
  TempDir dir;
  const int err =
      errorOf([&] { writeFileDurably(dir.path() / "f.tmp", dir.path() / "absent" / "f", "data"); });
  EXPECT_EQ(err, ENOENT);
  EXPECT_FALSE(fs::exists(dir.path() / "f.tmp"));
}

TEST(DurableFile, NewFilesNeverReplaceAFileOrFollowALink) {
  TempDir dir;
  const auto target = dir.path() / "key.pem";
  writeFileSynced(target, "first", 0600, Existing::kNew);
  EXPECT_EQ(errorOf([&] { writeFileSynced(target, "second", 0600, Existing::kNew); }), EEXIST);
  EXPECT_EQ(readFile(target), "first");

  const auto victim = dir.path() / "victim";
  writeFileSynced(victim, "keep me");
  fs::create_symlink(victim, dir.path() / "link");
  EXPECT_NE(errorOf([&] { writeFileSynced(dir.path() / "link", "x", 0600, Existing::kNew); }), 0);
  EXPECT_EQ(readFile(victim), "keep me");
  // kReplace truncates and rewrites.
  writeFileSynced(target, "second");
  EXPECT_EQ(readFile(target), "second");
}

// commitFiles, and placeFiles (commitFiles without the directory's fsync): every file in place,
// or none when a rename fails.
TEST(DurableFile, CommitsSeveralFilesOrNone) {
  using Commit =
      std::function<void(const fs::path&, const fs::path&, const std::vector<FileToCommit>&)>;
  const Commit commit = [](const fs::path& tmp, const fs::path& out,
                           const std::vector<FileToCommit>& files) {
    commitFiles(tmp, out, files);
  };
  for (const Commit& place : {commit, Commit(placeFiles)}) {
    TempDir dir;
    fs::create_directories(dir.path() / "tmp");
    fs::create_directories(dir.path() / "out");
    place(dir.path() / "tmp", dir.path() / "out", {{"a", {"prefix:", "A"}}, {"b", {"B"}}});
    EXPECT_EQ(readFile(dir.path() / "out" / "a"), "prefix:A");
    EXPECT_EQ(readFile(dir.path() / "out" / "b"), "B");
    EXPECT_TRUE(fs::is_empty(dir.path() / "tmp"));

    // The second rename fails (a directory is in the way): the first file is taken back too.
    fs::create_directories(dir.path() / "out" / "d" / "busy");
    EXPECT_NE(errorOf([&] {
                place(dir.path() / "tmp", dir.path() / "out", {{"c", {"C"}}, {"d", {"D"}}});
              }),
              0);
    EXPECT_FALSE(fs::exists(dir.path() / "out" / "c"));
    EXPECT_TRUE(fs::is_empty(dir.path() / "tmp"));
  }
}

// placeOverwriting() writes over the file in place (the same inode) and renames it; with
// Flush::kWithDirectory only pieces that fill the file exactly are taken (the write must change
// no metadata, or the directory's flush would not make it durable): anything else is refused,
// and the name given up, before a byte is written.
TEST(DurableFile, OverwritingInPlaceWithTheDirectorysFlushNeedsTheFilesSize) {
  TempDir dir;
  const auto spare = dir.path() / "spare";
  const auto target = dir.path() / "target";
  dir.write("spare", "0123456789");
  ASSERT_EQ(fs::hard_link_count(spare), 1U);  // one name, as placeOverwriting() requires
  const PagedBytes same[] = {PagedBytes("abcde"), PagedBytes("fghij")};
  placeOverwriting(spare, target, same, Flush::kWithDirectory);
  EXPECT_EQ(readFile(target), "abcdefghij");
  EXPECT_FALSE(fs::exists(spare));

  fs::rename(target, spare);
  const PagedBytes longer[] = {PagedBytes("abcdefghijk")};
  EXPECT_EQ(errorOf([&] { placeOverwriting(spare, target, longer, Flush::kWithDirectory); }),
            EINVAL);
  EXPECT_FALSE(fs::exists(spare));
  EXPECT_FALSE(fs::exists(target));

  dir.write("spare", "0123456789");
  const PagedBytes shorter[] = {PagedBytes("abc")};
  EXPECT_EQ(errorOf([&] { placeOverwriting(spare, target, shorter, Flush::kWithDirectory); }),
            EINVAL);
  EXPECT_FALSE(fs::exists(target));
  // Flush::kNow cuts (or grows) the file to what it is given.
  dir.write("spare", "0123456789");
  placeOverwriting(spare, target, shorter);
  EXPECT_EQ(readFile(target), "abc");
}

TEST(DurableFile, ReadErrorsNameTheFile) {
  TempDir dir;
  try {
    readFile(dir.path() / "absent");
    FAIL() << "no error";
  } catch (const IoError& e) {
    EXPECT_EQ(e.error(), ENOENT);
    EXPECT_THAT(e.what(), HasSubstr("absent"));
    EXPECT_FALSE(e.diskFull());
  }
  EXPECT_TRUE(IoError("full", ENOSPC).diskFull());
}

TEST(DurableFile, PrivateDirectoriesAreTheOwnersOnly) {
  TempDir dir;
  const auto made = dir.path() / "spool";
  makePrivateDirectory(made);
  EXPECT_EQ(std::filesystem::status(made).permissions(), std::filesystem::perms::owner_all);
  EXPECT_NO_THROW(makePrivateDirectory(made));  // already there
  try {
    makePrivateDirectory(dir.path() / "absent" / "queue");
    FAIL() << "no error";
  } catch (const IoError& e) {
    EXPECT_EQ(e.error(), ENOENT);
    EXPECT_THAT(e.what(), HasSubstr("cannot create " + (dir.path() / "absent").string()));
  }
}

TEST(DurableFile, ErrnoErrorsSayWhatWhereAndWhy) {
  const IoError e = IoError::fromErrno("cannot create", "/spool/tmp/x", ENOSPC);
  EXPECT_STREQ(e.what(), "cannot create /spool/tmp/x: No space left on device");
  EXPECT_EQ(e.error(), ENOSPC);
  EXPECT_TRUE(e.diskFull());
}

// The spool's message files: a record line, then the message. The line may span reads.
TEST(DurableFile, ReadsWhatFollowsTheFirstLine) {
  TempDir dir;
  const std::string record(200000, 'r');
  const std::string message = "Subject: x\r\n\r\nbody\n\nmore\r\n";
  dir.write("m", record + "\n" + message);
  EXPECT_EQ(readFile(dir.path() / "m", ReadFrom::kAfterFirstLine), message);
  dir.write("empty-rest", "record\n");
  EXPECT_EQ(readFile(dir.path() / "empty-rest", ReadFrom::kAfterFirstLine), "");
  dir.write("no-line", record);
  EXPECT_THROW(readFile(dir.path() / "no-line", ReadFrom::kAfterFirstLine), std::runtime_error);
  EXPECT_EQ(readFile(dir.path() / "no-line"), record);
}

TEST(DurableFile, ReadsTheFirstLineOnlyWithinItsLimit) {
  TempDir dir;
  const std::string record(100000, 'r');  // spans two reads
  dir.write("m", record + "\nthe message\r\n");
  EXPECT_EQ(readFirstLine(dir.path() / "m", 200000), record);
  EXPECT_THROW(readFirstLine(dir.path() / "m", 1000), std::runtime_error);
  dir.write("no-line", "no newline");
  EXPECT_THROW(readFirstLine(dir.path() / "no-line", 1000), std::runtime_error);
  dir.write("empty-line", "\nrest");
  EXPECT_EQ(readFirstLine(dir.path() / "empty-line", 1000), "");
  EXPECT_THROW(readFirstLine(dir.path() / "absent", 1000), IoError);
}

}  // namespace
}  // namespace relayguard
