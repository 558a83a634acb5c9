// durable_file: crash-safe file writes (see durable_file.hpp).
#include "core/util/durable_file.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util/unique_fd.hpp"

namespace relayguard {
namespace {

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path, int err) {
  throw IoError::fromErrno(what, path, err);
}

// How writePieces() opens its file: created (or replaced), created where nothing is, an
// existing regular file written over in place, or one written over with exactly as many bytes
// as it holds (kRewrite: no metadata changes, so the data needs no fdatasync of its own).
enum class Open { kReplace, kNew, kOverwrite, kRewrite };

// Writes the file's dirty pages and waits for the device to take them, without the cache flush
// and the metadata of an fdatasync. 0 or an errno; where the file system cannot do it,
// fdatasync instead.
int writeBack(int fd) {
  if (::sync_file_range(
          fd, 0, 0,
          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) == 0) {
    return 0;
  }
  if (errno != EINVAL && errno != ESPIPE && errno != ENOSYS && errno != EOPNOTSUPP) {
    return errno;
  }
  return ::fdatasync(fd) == 0 ? 0 : errno;
}

// Writes every piece in order, then fsyncs (kRewrite: writes back, see writeBack()); on failure
// removes the file. A piece in a mapped file is written a window at a time, each given back
// once written.
void writePiecesSynced(const std::filesystem::path& path, std::span<const PagedBytes> pieces,
                       unsigned mode, Open how) {
  int flags = O_WRONLY | O_CLOEXEC;
  const bool in_place = how == Open::kOverwrite || how == Open::kRewrite;
  switch (how) {
    case Open::kReplace:
      flags |= O_CREAT | O_TRUNC;
      break;
    case Open::kNew:
      flags |= O_CREAT | O_EXCL | O_NOFOLLOW;
      break;
    case Open::kOverwrite:
    case Open::kRewrite:
      flags |= O_NOFOLLOW | O_NONBLOCK;  // a FIFO planted there must not block the open
      break;
  }
  UniqueFd fd(::open(path.c_str(), flags, mode));
  if (!fd.valid()) {
    const int err = errno;
    if (in_place) {
      ::unlink(path.c_str());
    }
    fail(in_place ? "cannot open" : "cannot create", path, err);
  }
  struct stat st {};
  if (in_place) {
    const auto filled = [&pieces](std::uint64_t size) {
      std::uint64_t total = 0;
      for (const PagedBytes& piece : pieces) {
        total += piece.data.size();
      }
      return total == size;
    };
    int err = 0;
    if (::fstat(fd.get(), &st) != 0) {
      err = errno;
    } else if (!S_ISREG(st.st_mode)) {
      err = EINVAL;
    } else if (st.st_nlink != 1) {
      err = EMLINK;  // a second name of a file that is not ours to write
    } else if (how == Open::kRewrite && !filled(static_cast<std::uint64_t>(st.st_size))) {
      err = EINVAL;  // not the size it was taken for
    }
    if (err != 0) {
      ::unlink(path.c_str());
      fail("cannot write over", path, err);
    }
  }
  std::uint64_t written = 0;
  for (const PagedBytes& piece : pieces) {
    int err = 0;
    piece.forEachWindow(piece.data, [&](std::string_view window) {
      err = writeAll(fd.get(), window);
      return err == 0;
    });
    if (err != 0) {
      ::unlink(path.c_str());
      fail("cannot write", path, err);
    }
    written += piece.data.size();
  }
  if (how == Open::kOverwrite && static_cast<std::uint64_t>(st.st_size) > written &&
      ::ftruncate(fd.get(), static_cast<off_t>(written)) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    fail("cannot truncate", path, err);
  }
  if (how == Open::kRewrite) {
    if (const int err = writeBack(fd.get()); err != 0) {
      ::unlink(path.c_str());
      fail("cannot write back", path, err);
    }
  } else if (::fdatasync(fd.get()) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    fail("cannot fsync", path, err);
  }
  if (fd.close() != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    fail("cannot close", path, err);
  }
}

}  // namespace

IoError IoError::fromErrno(const std::string& what, const std::filesystem::path& path, int err) {
  return IoError(what + " " + path.string() + ": " + std::strerror(err), err);
}

int writeAll(int fd, std::string_view data) {
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return 0;
}

int openUnnamedFile(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) {
    return fd;
  }
  std::string pattern = (dir / "spill-XXXXXX").string();
  const int named = ::mkostemp(pattern.data(), O_CLOEXEC);
  if (named >= 0) {
    ::unlink(pattern.c_str());
  }
  return named;
}

bool diskFullError(int err) {
  return err == ENOSPC || err == EDQUOT;
}

void writeFileSynced(const std::filesystem::path& path, std::string_view data, unsigned mode,
                     Existing existing) {
  const PagedBytes piece(data);
  writePiecesSynced(path, std::span(&piece, 1), mode,
                    existing == Existing::kNew ? Open::kNew : Open::kReplace);
}

void fsyncDirectory(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    fail("cannot open directory", dir, errno);
  }
  if (::fsync(fd.get()) != 0) {
    fail("cannot fsync directory", dir, errno);
  }
}

void makePrivateDirectory(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    fail("cannot create", dir, errno);
  }
}

void renameDurably(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    fail("cannot rename to " + to.string() + " from", from, errno);
  }
  fsyncDirectory(to.parent_path());
}

void writeFileDurably(const std::filesystem::path& tmp, const std::filesystem::path& target,
                      std::string_view data, unsigned mode) {
  writeFileSynced(tmp, data, mode);
  try {
    renameDurably(tmp, target);
  } catch (const IoError&) {
    ::unlink(tmp.c_str());
    throw;
  }
}

void placeFiles(const std::filesystem::path& tmp_dir, const std::filesystem::path& dir,
                const std::vector<FileToCommit>& files) {
  std::size_t renamed = 0;
  try {
    for (const auto& f : files) {
      writePiecesSynced(tmp_dir / f.name, f.pieces, 0600, Open::kReplace);
    }
    for (const auto& f : files) {
      const auto from = tmp_dir / f.name;
      const auto to = dir / f.name;
      if (::rename(from.c_str(), to.c_str()) != 0) {
        fail("cannot rename to " + to.string() + " from", from, errno);
      }
      ++renamed;
    }
  } catch (const IoError&) {
    for (std::size_t i = 0; i < files.size(); ++i) {
      ::unlink((tmp_dir / files[i].name).c_str());
      if (i < renamed) {
        ::unlink((dir / files[i].name).c_str());
      }
    }
    throw;
  }
}

void placeOverwriting(const std::filesystem::path& path, const std::filesystem::path& target,
                      std::span<const PagedBytes> pieces, Flush flush) {
  writePiecesSynced(path, pieces, 0600, flush == Flush::kNow ? Open::kOverwrite : Open::kRewrite);
  if (::rename(path.c_str(), target.c_str()) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    fail("cannot rename to " + target.string() + " from", path, err);
  }
}

void commitFiles(const std::filesystem::path& tmp_dir, const std::filesystem::path& dir,
                 const std::vector<FileToCommit>& files, GroupSync* dir_sync) {
  placeFiles(tmp_dir, dir, files);
  try {
    if (dir_sync != nullptr) {
      dir_sync->afterChange([&dir] { fsyncDirectory(dir); });
    } else {
      fsyncDirectory(dir);
    }
  } catch (const IoError&) {
    for (const auto& f : files) {
      ::unlink((dir / f.name).c_str());
    }
    throw;
  }
}

namespace {

// Opens path and hands each chunk read to `chunk` until it returns false or the file ends;
// `opened` sees the descriptor first (for its size). Throws IoError.
template <class Opened, class Chunk>
void readChunks(const std::filesystem::path& path, Opened&& opened, Chunk&& chunk) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    fail("cannot open", path, errno);
  }
  opened(fd.get());
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      fail("cannot read", path, errno);
    }
    if (n == 0 || !chunk(std::string_view(buf, static_cast<std::size_t>(n)))) {
      return;
    }
  }
}

}  // namespace

std::string readFile(const std::filesystem::path& path, ReadFrom from) {
  std::string out;
  bool skipping = from == ReadFrom::kAfterFirstLine;
  readChunks(
      path,
      [&out](int fd) {
        // Sized up front: growing a string by doubling would hold up to twice a large message
        // while it reallocates. The loop still reads to EOF, whatever the size says.
        struct stat st {};
        if (::fstat(fd, &st) == 0 && st.st_size > 0) {
          out.reserve(static_cast<std::size_t>(st.st_size));
        }
      },
      [&out, &skipping](std::string_view got) {
        if (skipping) {
          const auto eol = got.find('\n');
          if (eol == std::string_view::npos) {
            return true;
          }
          got.remove_prefix(eol + 1);
          skipping = false;
        }
        out.append(got);
        return true;
      });
  if (skipping) {
    throw std::runtime_error(path.string() + " has no complete first line");
  }
  return out;
}

std::string readFirstLine(const std::filesystem::path& path, std::size_t max_bytes) {
  std::string line;
  bool complete = false;
  readChunks(
      path, [](int) {},
      [&](std::string_view got) {
        const auto eol = got.find('\n');
        line.append(got.substr(0, eol));
        complete = eol != std::string_view::npos;
        return !complete && line.size() <= max_bytes;
      });
  if (!complete) {
    throw std::runtime_error(path.string() + " has no complete first line within " +
                             std::to_string(max_bytes) + " bytes");
  }
  return line;
}

}  // namespace relayguard
