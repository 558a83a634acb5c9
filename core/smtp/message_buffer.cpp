// message_buffer: a received message in memory, or spilled to an unlinked file (see
// message_buffer.hpp).
#include "core/smtp/message_buffer.hpp"

#include <cerrno>
#include <cstdlib>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include "core/util/durable_file.hpp"

namespace relayguard::smtp {
namespace {

// Bytes gathered before each write to the spill file.
constexpr std::size_t kWriteBlock = 256 * 1024;

}  // namespace

MessageBuffer::MessageBuffer(std::filesystem::path spill_dir, std::size_t threshold)
    : dir_(std::move(spill_dir)), threshold_(threshold) {}

void MessageBuffer::clear() {
  map_.reset();
  fd_.close();
  memory_.clear();
  memory_.shrink_to_fit();
  size_ = 0;
}

void MessageBuffer::fail(int err) {
  error_ = err != 0 ? err : EIO;
  clear();
}

void MessageBuffer::append(std::string_view bytes) {
  if (failed() || bytes.empty()) {
    return;
  }
  // Appending after view(): back to writing, the mapping is remade on the next view().
  map_.reset();
  memory_.append(bytes);
  size_ += bytes.size();
  if (!spilled() && !dir_.empty() && size_ > threshold_) {
    spill();
  } else if (spilled() && memory_.size() >= kWriteBlock) {
    flush();
  }
}

void MessageBuffer::spill() {
  fd_ = UniqueFd(openUnnamedFile(dir_));
  if (!fd_.valid()) {
    fail(errno);
    return;
  }
  flush();
}

void MessageBuffer::flush() {
  if (const int err = writeAll(fd_.get(), memory_); err != 0) {
    fail(err);
    return;
  }
  memory_.clear();
  if (memory_.capacity() > 2 * kWriteBlock) {
    memory_.shrink_to_fit();  // the copy of the first threshold bytes is not needed any more
  }
}

std::string_view MessageBuffer::view() {
  if (failed()) {
    return {};
  }
  if (!spilled()) {
    return memory_;
  }
  if (!map_) {
    flush();
    if (failed()) {
      return {};
    }
    try {
      map_.emplace(fd_.get(), static_cast<std::size_t>(size_), dir_ / "(spilled message)");
    } catch (const IoError& e) {
      fail(e.error());
      return {};
    }
  }
  return map_->bytes();
}

PagedBytes MessageBuffer::bytes() {
  const std::string_view data = view();  // maps a spilled message first
  return {data, map_ ? &*map_ : nullptr, fd_.get()};
}

}  // namespace relayguard::smtp
