// mapped_file: a file (or the first bytes of an open one) mapped read-only, for handing a large
// message around as a string_view without reading it into process memory: its pages are page
// cache, read in as they are touched and reclaimable by the kernel. Safe for the relay's own
// files because they are only ever replaced by rename, never truncated in place, so a mapping
// always sees a complete file (SIGBUS needs a truncation).
//
// Touched pages count as the process's memory while they stay mapped (VmRSS, VmHWM), so a pass
// that reads a large file once, front to back, gives back each window it is done with
// (release()): the pages leave the process, stay in the page cache, and come back on the next
// touch. A 25 MiB message then costs a window of resident memory per pass, not its size.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace relayguard {

class MappedFile {
 public:
  MappedFile() = default;
  // Maps the first `size` bytes of the open file `fd` (which may be closed afterwards). Throws
  // IoError naming `name`.
  MappedFile(int fd, std::size_t size, const std::filesystem::path& name);
  // Opens and maps the whole of `path`. Throws IoError.
  static MappedFile open(const std::filesystem::path& path);

  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // Valid while this object lives; moving it keeps the bytes where they are.
  std::string_view bytes() const { return {static_cast<const char*>(map_), size_}; }

  // Drops the pages that hold `range` (a part of bytes(); widened to whole pages) from the
  // process. The bytes stay readable: the mapping is read-only and never written, so the next
  // touch maps them again from the page cache (or the file).
  void release(std::string_view range) const;

 private:
  void* map_ = nullptr;
  std::size_t size_ = 0;
};

// Bytes that may lie in a mapped file: the view, and what a single front-to-back pass hands its
// windows back to. For bytes in memory there is nothing to give back.
struct PagedBytes {
  // The window a pass reads before it gives the pages back.
  static constexpr std::size_t kWindow = 1 << 20;

  PagedBytes() = default;
  // Bytes in memory (implicit, as a string_view is).
  PagedBytes(std::string_view bytes) : data(bytes) {}    // NOLINT(google-explicit-constructor)
  PagedBytes(const std::string& bytes) : data(bytes) {}  // NOLINT(google-explicit-constructor)
  PagedBytes(const char* bytes) : data(bytes) {}         // NOLINT(google-explicit-constructor)
  // Bytes in `mapping` (nullptr: in memory), read from the open file `descriptor` if given.
  PagedBytes(std::string_view bytes, const MappedFile* mapping, int descriptor = -1)
      : data(bytes), file(mapping), fd(descriptor) {}

  std::string_view data;
  const MappedFile* file = nullptr;  // the mapping data lies in, if any
  int fd = -1;  // an open descriptor of that file, whose whole content data is, for readers
                // that read() a descriptor (GMime's file stream)

  // Gives back the pages of `done`, a part of data (nothing for bytes in memory).
  void release(std::string_view done) const {
    if (file != nullptr) {
      file->release(done);
    }
  }
  // Calls f(window) on consecutive windows of `range` (a part of data), releasing each after
  // its call; a single call with the whole range when the bytes are in memory. f returns false
  // to stop early.
  template <class F>
  bool forEachWindow(std::string_view range, F&& f) const {
    if (file == nullptr) {
      return f(range);
    }
    for (std::size_t at = 0; at < range.size(); at += kWindow) {
      const std::string_view window = range.substr(at, kWindow);
      const bool more = f(window);
      release(window);
      if (!more) {
        return false;
      }
    }
    return true;
  }
};

}  // namespace relayguard
