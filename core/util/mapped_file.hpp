// mapped_file: a file (or the first bytes of an open one) mapped read-only, for handing a large
// message around as a string_view without reading it into process memory: its pages are page
// cache, read in as they are touched and reclaimable by the kernel. Safe for the relay's own
// files because they are only ever replaced by rename, never truncated in place, so a mapping
// always sees a complete file (SIGBUS needs a truncation).
#pragma once

#include <cstddef>
#include <filesystem>
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

 private:
  void* map_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace relayguard
