// mapped_file: read-only file mappings (see mapped_file.hpp).
#include "core/util/mapped_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util/durable_file.hpp"
#include "core/util/unique_fd.hpp"

namespace relayguard {

MappedFile::MappedFile(int fd, std::size_t size, const std::filesystem::path& name) {
  if (size == 0) {
    return;  // mmap refuses length 0; an empty view needs no mapping
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) {
    throw IoError::fromErrno("cannot map", name, errno);
  }
  map_ = map;
  size_ = size;
}

MappedFile MappedFile::open(const std::filesystem::path& path) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    throw IoError::fromErrno("cannot open", path, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    throw IoError::fromErrno("cannot stat", path, errno);
  }
  return MappedFile(fd.get(), static_cast<std::size_t>(st.st_size), path);
}

void MappedFile::release(std::string_view range) const {
  if (range.empty() || map_ == nullptr) {
    return;
  }
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto base = reinterpret_cast<std::uintptr_t>(map_);
  const auto first = std::max(base, reinterpret_cast<std::uintptr_t>(range.data()) & ~(page - 1));
  const auto last =
      std::min(base + size_, reinterpret_cast<std::uintptr_t>(range.data()) + range.size());
  if (last > first) {
    // Advice only: a failure leaves the pages mapped, which costs memory, not correctness.
    (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  }
}

MappedFile::~MappedFile() {
  if (map_ != nullptr) {
    ::munmap(map_, size_);
  }
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : map_(std::exchange(other.map_, nullptr)), size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (map_ != nullptr) {
      ::munmap(map_, size_);
    }
    map_ = std::exchange(other.map_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

}  // namespace relayguard
