// durable_file: the one place that writes files which must survive a crash.
//
// Every write goes to a temporary name, is fsynced, then renamed into place and the directory
// fsynced (OpenSMTPD and Postfix commit the same way). A failure (full disk, I/O error) is
// reported as an IoError carrying errno, and the temporary file is removed, so a half-written
// file never appears under its final name.
#pragma once

#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/group_sync.hpp"
#include "core/util/mapped_file.hpp"

namespace relayguard {

// ENOSPC/EDQUOT: a full disk (or quota), answered 452 rather than 451.
bool diskFullError(int err);

class IoError : public std::runtime_error {
 public:
  IoError(const std::string& what, int err) : std::runtime_error(what), errno_(err) {}
  // "<what> <path>: <strerror(err)>", e.g. "cannot create /var/spool/x: No space left on device".
  static IoError fromErrno(const std::string& what, const std::filesystem::path& path, int err);
  int error() const { return errno_; }
  // ENOSPC/EDQUOT: the caller answers 452 rather than 451.
  bool diskFull() const { return diskFullError(errno_); }

 private:
  int errno_;
};

// Writes all of `data` to an open descriptor, retrying short writes and EINTR: 0, or the errno
// of the write that failed.
int writeAll(int fd, std::string_view data);
// Scratch space: an unnamed file in `dir` (mode 0600), O_TMPFILE where the file system has it,
// else a named one unlinked at once; a crash leaves nothing behind. -1 with errno set on
// failure.
int openUnnamedFile(const std::filesystem::path& dir);

// Writes data to `tmp`, fsyncs it, renames it to `target` and fsyncs target's directory.
void writeFileDurably(const std::filesystem::path& tmp, const std::filesystem::path& target,
                      std::string_view data, unsigned mode = 0600);
// Writes and fsyncs `path` (no rename): the first half of a two-file commit. kNew refuses an
// existing file or a symbolic link at `path` (IoError with EEXIST/ELOOP) instead of replacing
// it: for files that must never overwrite anything, such as a new private key.
enum class Existing { kReplace, kNew };
void writeFileSynced(const std::filesystem::path& path, std::string_view data, unsigned mode = 0600,
                     Existing existing = Existing::kReplace);
// Renames and fsyncs the target directory.
void renameDurably(const std::filesystem::path& from, const std::filesystem::path& to);
void fsyncDirectory(const std::filesystem::path& dir);

// Creates `dir` readable by its owner only (0700) unless it exists; throws IoError.
void makePrivateDirectory(const std::filesystem::path& dir);
// Commits several files as one unit (a message and its record): each is written under tmp_dir
// and fsynced, then renamed into dir in the given order, and dir is fsynced once. The last
// file's rename is the commit point: readers treat the set as present when the last file is.
// On failure everything written so far is removed and IoError is thrown.
struct FileToCommit {
  std::string name;  // file name within dir (and, temporarily, within tmp_dir)
  // Written in order: e.g. a record line, the header fields the relay adds, then the message as
  // received, without first joining them in memory (a 25 MiB message would be held twice).
  std::vector<PagedBytes> pieces;
};
// dir_sync: when given, the final fsync of dir goes through it, shared with concurrent commits.
void commitFiles(const std::filesystem::path& tmp_dir, const std::filesystem::path& dir,
                 const std::vector<FileToCommit>& files, GroupSync* dir_sync = nullptr);
// Writes `pieces` over the regular file `path` in place (no new inode; the blocks it has are
// written over rather than freed and allocated again), cuts it to their length, fdatasyncs it
// and renames it to `target`: how a file given up for reuse takes a new content. Anything at
// `path` but a regular file with one link (a symbolic link, a second name of another file) is
// refused with IoError (ELOOP, EMLINK, EINVAL). On failure the name `path` is removed. Like
// placeFiles, target's directory is left to the caller to fsync.
//
// Flush::kWithDirectory is for pieces that fill the file exactly (else IoError EINVAL): the
// write then changes no metadata (size, blocks), so instead of an fdatasync the data is only
// written back to the device (sync_file_range), without a cache flush of its own. The fsync of
// target's directory that the caller owes anyway ends with a cache flush of the whole device,
// which makes the bytes durable together with the name, and with those of every file placed
// before it: one flush per group of messages instead of one per message. A crash before that
// flush can leave `target` naming the file's old bytes, or a mix of old and new: the caller
// must tell them apart (a checksum), and must not acknowledge anything before the flush.
enum class Flush { kNow, kWithDirectory };
void placeOverwriting(const std::filesystem::path& path, const std::filesystem::path& target,
                      std::span<const PagedBytes> pieces, Flush flush = Flush::kNow);
// commitFiles without its last step: the files are written, fsynced and renamed into dir, but
// dir is not fsynced, so a crash may still lose their names. For a caller that makes them
// durable together with something else in one shared sync: it fsyncs dir before anything is
// acknowledged, and removes the files if that fails. On failure nothing is left behind.
void placeFiles(const std::filesystem::path& tmp_dir, const std::filesystem::path& dir,
                const std::vector<FileToCommit>& files);
// Reads a whole file, or what follows its first line (kAfterFirstLine: runtime_error if it has
// none); throws IoError.
enum class ReadFrom { kStart, kAfterFirstLine };
std::string readFile(const std::filesystem::path& path, ReadFrom from = ReadFrom::kStart);
// The first line of a file, without its newline, reading no further than it; runtime_error if
// there is none within max_bytes. Throws IoError.
std::string readFirstLine(const std::filesystem::path& path, std::size_t max_bytes);

}  // namespace relayguard
