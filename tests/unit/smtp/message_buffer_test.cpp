// message_buffer_test: a received message in memory up to the threshold, in an unnamed file
// past it (nothing visible in the spill directory, the same bytes read back), appends after a
// view, moves, and the failures that must keep a message from being accepted (no directory, a
// write refused by RLIMIT_FSIZE), through DataReader as well.
#include "core/smtp/message_buffer.hpp"

#include <csignal>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <sys/resource.h>

#include "core/smtp/data_reader.hpp"
#include "tests/support/temp_dir.hpp"

namespace relayguard::smtp {
namespace {

std::string pattern(std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    out[i] = static_cast<char>('a' + (i * 7 + i / 1000) % 26);
  }
  return out;
}

// Files this process has open below `dir` (an unnamed spill file shows in /proc/self/fd as
// "<dir>/#<inode> (deleted)").
std::size_t openFilesIn(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const std::string target = std::filesystem::read_symlink(fd.path(), ec).string();
    if (!ec && target.starts_with(dir.string() + "/")) {
      ++n;
    }
  }
  return n;
}

std::size_t entries(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) {
    ++n;
  }
  return n;
}

TEST(MessageBuffer, SmallMessageStaysInMemory) {
  test::TempDir dir;
  MessageBuffer buffer(dir.path(), 1000);
  buffer.append("Subject: x\r\n\r\n");
  buffer.append("body\r\n");
  EXPECT_FALSE(buffer.spilled());
  EXPECT_EQ(buffer.view(), "Subject: x\r\n\r\nbody\r\n");
  EXPECT_EQ(buffer.size(), 20U);
}

TEST(MessageBuffer, WithoutASpillDirectoryEverythingStaysInMemory) {
  MessageBuffer buffer({}, 10);
  const std::string data = pattern(5000);
  buffer.append(data);
  EXPECT_FALSE(buffer.spilled());
  EXPECT_EQ(buffer.view(), data);
}

TEST(MessageBuffer, LargeMessageGoesToAnUnnamedFileAndReadsBackTheSame) {
  test::TempDir dir;
  MessageBuffer buffer(dir.path(), 64 * 1024);
  const std::string data = pattern(3 * 1024 * 1024 + 17);
  for (std::size_t at = 0; at < data.size(); at += 1000) {
    buffer.append(std::string_view(data).substr(at, 1000));
  }
  EXPECT_TRUE(buffer.spilled());
  EXPECT_FALSE(buffer.failed());
  EXPECT_EQ(openFilesIn(dir.path()), 1U);
  EXPECT_EQ(entries(dir.path()), 0U) << "the spill file must have no name";
  const std::string_view view = buffer.view();
  ASSERT_EQ(view.size(), data.size());
  EXPECT_TRUE(view == data);
}

TEST(MessageBuffer, AppendAfterAViewExtendsIt) {
  test::TempDir dir;
  MessageBuffer buffer(dir.path(), 100);
  const std::string first = pattern(300);
  buffer.append(first);
  EXPECT_EQ(buffer.view(), first);
  buffer.append("tail");
  EXPECT_EQ(buffer.view(), first + "tail");
}

TEST(MessageBuffer, MovedBufferKeepsTheFile) {
  test::TempDir dir;
  MessageBuffer buffer(dir.path(), 100);
  const std::string data = pattern(1000);
  buffer.append(data);
  MessageBuffer moved(std::move(buffer));
  EXPECT_TRUE(moved.spilled());
  EXPECT_EQ(moved.view(), data);
  MessageBuffer assigned;
  assigned = std::move(moved);
  EXPECT_EQ(assigned.view(), data);
}

TEST(MessageBuffer, ClearForgetsTheFile) {
  test::TempDir dir;
  MessageBuffer buffer(dir.path(), 100);
  buffer.append(pattern(1000));
  buffer.clear();
  EXPECT_FALSE(buffer.spilled());
  EXPECT_EQ(buffer.size(), 0U);
  EXPECT_EQ(buffer.view(), "");
}

TEST(MessageBuffer, MissingSpillDirectoryFailsTheMessage) {
  test::TempDir dir;
  MessageBuffer buffer(dir.path() / "gone", 100);
  buffer.append(pattern(1000));
  buffer.append("more");
  EXPECT_TRUE(buffer.failed());
  EXPECT_EQ(buffer.error(), ENOENT);
  EXPECT_EQ(buffer.view(), "");
}

// A write the kernel refuses (here: over RLIMIT_FSIZE, EFBIG) fails the message; the reader
// still reads up to the end marker so that the session stays in step with the client.
TEST(MessageBuffer, RefusedWriteFailsTheMessageButTheReaderReadsToTheEnd) {
  test::TempDir dir;
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto previous = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 512 * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  DataReader reader(64 << 20, 1000, MessageBuffer(dir.path(), 4096));
  const std::string line = pattern(998) + "\r\n";
  for (int i = 0; i < 2000; ++i) {  // about 2 MB
    reader.feed(line);
  }
  reader.feed(".\r\n");
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, previous);
  EXPECT_TRUE(reader.done());
  EXPECT_TRUE(reader.problems() & DataReader::kStorage);
  EXPECT_EQ(reader.storageError(), EFBIG);
  EXPECT_EQ(reader.message().data, "");
}

TEST(MessageBuffer, DataReaderSpillsTheUnstuffedMessage) {
  test::TempDir dir;
  DataReader reader(64 << 20, 1000, MessageBuffer(dir.path(), 4096));
  std::string expected;
  std::string wire;
  for (int i = 0; i < 3000; ++i) {
    const std::string text = (i % 3 == 0 ? "." : "") + pattern(70) + std::to_string(i);
    wire += (text.starts_with(".") ? "." : "") + text + "\r\n";
    expected += text + "\r\n";
  }
  EXPECT_EQ(reader.feed(wire + ".\r\nQUIT\r\n"), wire.size() + 3);
  ASSERT_TRUE(reader.done());
  EXPECT_EQ(reader.problems(), DataReader::kNone);
  EXPECT_EQ(openFilesIn(dir.path()), 1U) << "the message went to a spill file";
  EXPECT_TRUE(reader.message().data == expected);
}

}  // namespace
}  // namespace relayguard::smtp
