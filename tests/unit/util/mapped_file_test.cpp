// mapped_file_test: a whole file and the first bytes of an open one mapped read-only; empty
// files; errors as IoError with errno; moves keep the bytes in place.
#include "core/util/mapped_file.hpp"

#include <cerrno>
#include <fstream>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "core/util/durable_file.hpp"
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
