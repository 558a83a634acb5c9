// spool: the durable message store under <spool_dir>.
//
//   tmp/      files being written; anything here at start-up is a leftover and is removed
//   queue/    committed messages: ID.msg (the bytes to send) and ID.env (queued_message JSON)
//   corrupt/  records that could not be read, kept for inspection (Postfix's corrupt queue)
//
// A message is committed when queue/ID.env exists: commit() writes both files under tmp/,
// fsyncs them, renames ID.msg and then ID.env into queue/ and fsyncs the directory. Only after
// commit() returns may the SMTP session answer 250, so a crash at any moment either loses
// nothing that was acknowledged or leaves an uncommitted ID.msg that recover() removes. The
// message file is never rewritten; delivery state changes rewrite ID.env by rename.
//
// Thread-safe: every operation works on distinct files named by a unique queue id.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/queue/queued_message.hpp"

namespace relayguard::queue {

class Spool {
 public:
  // Creates the folders if needed (mode 0700). Throws IoError.
  explicit Spool(std::filesystem::path root);

  const std::filesystem::path& root() const { return root_; }
  // Stores prefix + message as ID.msg (prefix: header fields the relay adds in front).
  // Throws IoError (diskFull() for ENOSPC) and leaves nothing behind on failure.
  void commit(const QueuedMessage& record, std::string_view message, std::string_view prefix = {});
  // Atomically replaces the stored delivery state.
  void update(const QueuedMessage& record);
  // Removes a message (its record first, so a crash in between leaves an uncommitted leftover).
  // Returns false if it was not there.
  bool remove(const QueueId& id);
  bool exists(const QueueId& id) const;
  std::string readMessage(const QueueId& id) const;
  // nullopt if absent; throws std::runtime_error if malformed.
  std::optional<QueuedMessage> read(const QueueId& id) const;
  // Start-up recovery: clears tmp/, removes uncommitted messages, moves unreadable records to
  // corrupt/, and returns every committed message.
  std::vector<QueuedMessage> recover();
  // Read-only listing for the CLI (skips what it cannot read, reporting it in `problems`).
  std::vector<QueuedMessage> list(std::vector<std::string>* problems = nullptr) const;

  std::filesystem::path messagePath(const QueueId& id) const;
  std::filesystem::path recordPath(const QueueId& id) const;

 private:
  std::filesystem::path root_;
  std::filesystem::path tmp_;
  std::filesystem::path queue_;
  std::filesystem::path corrupt_;
};

}  // namespace relayguard::queue
