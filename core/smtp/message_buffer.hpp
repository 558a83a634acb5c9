// message_buffer: the bytes of one message while the session receives it. Up to a threshold they
// stay in memory; past it they go to an unlinked file (O_TMPFILE, mode 0600) in the spill
// directory, written in blocks, and come back through a read-only mapping. So a large message
// costs a bounded buffer of process memory while it arrives, and page cache, which the kernel
// can reclaim, afterwards; a crash leaves nothing behind (the file has no name). The spill file
// is scratch space: the message is accepted only once the spool has written and synced its own
// copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/util/mapped_file.hpp"
#include "core/util/unique_fd.hpp"

namespace relayguard::smtp {

class MessageBuffer {
 public:
  static constexpr std::size_t kDefaultSpillThreshold = 1 << 20;

  // An empty spill_dir keeps every message in memory.
  explicit MessageBuffer(std::filesystem::path spill_dir = {},
                         std::size_t threshold = kDefaultSpillThreshold);
  MessageBuffer(MessageBuffer&&) noexcept = default;
  MessageBuffer& operator=(MessageBuffer&&) noexcept = default;

  // Appends bytes. A spill file that cannot be created or written (a full disk) sets failed()
  // and drops the rest: the message is incomplete and must not be accepted.
  void append(std::string_view bytes);
  // Forgets everything (the file too); failed() is kept.
  void clear();

  std::uint64_t size() const { return size_; }
  bool spilled() const { return fd_.valid(); }
  bool failed() const { return error_ != 0; }
  // The errno of the failure (ENOSPC for a full disk), 0 without one.
  int error() const { return error_; }
  // The whole message. For a spilled message the first call writes what is still buffered and
  // maps the file; the view stays valid until the buffer is cleared or destroyed. Empty when
  // failed().
  std::string_view view();
  // view() with the mapping and descriptor of a spilled message, for passes that give the
  // pages they have read back.
  PagedBytes bytes();

 private:
  void spill();
  void flush();
  void fail(int err);

  std::filesystem::path dir_;
  std::size_t threshold_;
  std::string memory_;  // the message while in memory; the pending write block once spilled
  std::uint64_t size_ = 0;
  UniqueFd fd_;                    // the spill file, once spilled
  std::optional<MappedFile> map_;  // once view() was called on a spilled message
  int error_ = 0;
};

}  // namespace relayguard::smtp
