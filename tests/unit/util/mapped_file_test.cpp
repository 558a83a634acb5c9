// mapped_file_test: a whole file and the first bytes of an open one mapped read-only; empty
// files; errors as IoError with errno; moves keep the bytes in place.
#include "core/util/mapped_file.hpp"

#include <cerrno>
#include <fstream>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "core/util/durable_file.hpp"
#include "tests/support/resident_memory.hpp"
#include "tests/support/temp_dir.hpp"

namespace relayguard {
namespace {

void write(const std::filesystem::path& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

TEST(MappedFile, MapsAWholeFile) {
  test::TempDir dir;
  const std::string data(100000, 'x');
  write(dir.path() / "m", data + "end");
  const MappedFile file = MappedFile::open(dir.path() / "m");
  EXPECT_EQ(file.bytes(), data + "end");
}

TEST(MappedFile, EmptyFileIsAnEmptyView) {
  test::TempDir dir;
  write(dir.path() / "e", "");
  EXPECT_EQ(MappedFile::open(dir.path() / "e").bytes(), "");
}

TEST(MappedFile, MissingFileIsAnIoErrorWithErrno) {
  test::TempDir dir;
  try {
    MappedFile::open(dir.path() / "absent");
    FAIL() << "no error";
  } catch (const IoError& e) {
    EXPECT_EQ(e.error(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("absent"), std::string::npos);
  }
}

TEST(MappedFile, MapsTheFirstBytesOfAnOpenFileAndSurvivesItsClose) {
  test::TempDir dir;
  write(dir.path() / "p", "0123456789");
  const int fd = ::open((dir.path() / "p").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  MappedFile file(fd, 4, dir.path() / "p");
  ::close(fd);
  EXPECT_EQ(file.bytes(), "0123");
}

// Reads every page of `bytes`; returns a checksum so that the reads cannot be optimised away.
unsigned touch(std::string_view bytes) {
  unsigned sum = 0;
  for (std::size_t i = 0; i < bytes.size(); i += 4096) {
    sum += static_cast<unsigned char>(bytes[i]);
  }
  return sum;
}

constexpr std::size_t kBig = 16 << 20;

TEST(MappedFile, ReleasedPagesLeaveTheProcessAndTheBytesStay) {
  test::TempDir dir;
  std::string data(kBig, 'a');
  data[kBig / 2] = 'b';
  write(dir.path() / "big", data);
  const MappedFile file = MappedFile::open(dir.path() / "big");
  const std::size_t before = test::residentKib("RssFile");
  EXPECT_EQ(touch(file.bytes()), kBig / 4096 * 'a' + ('b' - 'a'));
  EXPECT_GE(test::residentKib("RssFile"), before + kBig / 1024 * 3 / 4);
  file.release(file.bytes());
  EXPECT_LT(test::residentKib("RssFile"), before + 1024);
  EXPECT_EQ(file.bytes(), data);  // read again from the page cache
}

TEST(MappedFile, WindowsCoverTheRangeInOrderAndOnlyOneStaysResident) {
  test::TempDir dir;
  std::string data(kBig + 12345, 'w');
  write(dir.path() / "big", data);
  const MappedFile file = MappedFile::open(dir.path() / "big");
  const PagedBytes paged{file.bytes(), &file};
  const std::size_t before = test::residentKib("RssFile");
  std::size_t covered = 0;
  std::size_t peak = 0;
  unsigned sum = 0;  // used below, so that the reads are not optimised away
  const bool all = paged.forEachWindow(paged.data.substr(100), [&](std::string_view window) {
    EXPECT_EQ(window.data(), paged.data.data() + 100 + covered);
    EXPECT_LE(window.size(), PagedBytes::kWindow);
    sum += touch(window);
    covered += window.size();
    peak = std::max(peak, test::residentKib("RssFile"));
    return true;
  });
  EXPECT_TRUE(all);
  EXPECT_EQ(covered, data.size() - 100);
  EXPECT_EQ(sum % 'w', 0U);
  EXPECT_GT(sum, 0U);
  EXPECT_LT(peak, before + 3 * PagedBytes::kWindow / 1024);

  std::size_t calls = 0;
  EXPECT_FALSE(paged.forEachWindow(paged.data, [&](std::string_view) { return ++calls < 2; }));
  EXPECT_EQ(calls, 2U);
}

TEST(MappedFile, BytesInMemoryAreOneWindow) {
  const std::string data(3 * PagedBytes::kWindow, 'm');
  const PagedBytes paged{data};
  std::size_t calls = 0;
  EXPECT_TRUE(paged.forEachWindow(paged.data, [&](std::string_view window) {
    EXPECT_EQ(window, data);
    return ++calls > 0;
  }));
  EXPECT_EQ(calls, 1U);
}

TEST(MappedFile, MoveKeepsTheBytesWhereTheyAre) {
  test::TempDir dir;
  write(dir.path() / "m", "moved bytes");
  MappedFile a = MappedFile::open(dir.path() / "m");
  const char* where = a.bytes().data();
  MappedFile b(std::move(a));
  EXPECT_EQ(b.bytes().data(), where);
  MappedFile c;
  c = std::move(b);
  EXPECT_EQ(c.bytes(), "moved bytes");
  EXPECT_EQ(b.bytes(), "");  // NOLINT(bugprone-use-after-move): moved-from is empty
}

}  // namespace
}  // namespace relayguard
