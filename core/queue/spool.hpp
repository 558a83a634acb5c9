// spool: the durable message store under <spool_dir>.
//
//   tmp/      files being written; anything here at start-up is a leftover and is removed
//   queue/    committed messages: ID.msg, and ID.env once its delivery state has changed
//   corrupt/  records that could not be read, kept for inspection (Postfix's corrupt queue)
//   free/     files of delivered messages kept for reuse (at most kMaxFree, each of a message
//             of at most kMapAbove bytes)
//
// ID.msg is one file per message, as Postfix keeps it: its first line is the message's record
// as accepted (queued_message JSON), the rest the bytes to send. commit() writes it under tmp/,
// fdatasyncs it, renames it into queue/ (the commit point) and fsyncs queue/, that last fsync
// shared by every commit running at the same time (group commit). Only after commit() returns
// may the SMTP session answer 250, so a crash at any moment either loses nothing that was
// acknowledged or leaves a leftover in tmp/ (or a rewritten file in free/) that recover()
// removes (or takes up for reuse). One file means at most one fdatasync per message. place()
// and syncQueue() are commit() in two halves, for the SMTP acceptor, which makes the rename and
// its audit line durable in one sync shared by concurrent sessions (see message_acceptor.hpp);
// when place() fills a recycled file exactly, that shared sync makes its bytes durable too, and
// the message costs no fdatasync of its own (see place()).
//
// ID.msg is never rewritten. A change of delivery state (a deferral) writes ID.env by rename,
// which then overrides the record in ID.msg. Removal unlinks ID.msg first, so a crash in between
// leaves an ID.env without its message, which recover() deletes.
//
// Files are recycled, as databases recycle their log segments: a delivered message's file is
// renamed into free/ (retire()), and place() writes the next message over it in place (filling
// it, or cut or grown to the next kSizeStep), then renames it into queue/. That saves creating and
// deleting an inode per message, and the data blocks it has are written over rather than freed and
// allocated again. On ext4 without a journal, allocating an inode also skips every inode freed in
// the last seconds, one buffer lookup each, which at a thousand messages a second cost 15% of the
// relay's CPU (bench/README.md). A file in free/ still holds the delivered message until it is
// reused; remove() (operators, refused commits) unlinks instead. Only place() writes over a free
// file, after checking that it is a regular file with a single name; recover() takes up what free/
// holds after a restart. A reader that opened ID.msg before its message was retired (the queue
// CLI) may see the next message's bytes; the relay itself reads a file only while it is queued.
//
// Thread-safe: every operation works on distinct files named by a unique queue id.
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/queue/queued_message.hpp"
#include "core/util/group_sync.hpp"
#include "core/util/mapped_file.hpp"

namespace relayguard::queue {

// A queue file whose bytes are not those its record line was written with (loadMessage()).
class CorruptMessage : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Spool {
 public:
  // Creates the folders if needed (mode 0700). Throws IoError.
  explicit Spool(std::filesystem::path root);

  const std::filesystem::path& root() const { return root_; }
  // tmp/: scratch files on the spool's file system (also where sessions spill large messages).
  const std::filesystem::path& tmpDir() const { return tmp_; }
  // Stores prefix + message as ID.msg (prefix: header fields the relay adds in front), with
  // the record in its first line.
  // Throws IoError (diskFull() for ENOSPC) and leaves nothing behind on failure.
  void commit(const QueuedMessage& record, const PagedBytes& message, std::string_view prefix = {});
  // commit() without the fsync of queue/: ID.msg is on disk under its final name, but a crash
  // may still lose it until syncQueue() has returned. Nothing may acknowledge the message in
  // between, and a failed syncQueue() means remove(). Throws as commit().
  //
  // The file is one of free/ when there is one (for bytes up to kMapAbove), and its size is kept
  // in steps (the record line padded with spaces, which JSON ignores), so that the next message
  // of about the same size fills an old file exactly. Then nothing but data changes, and the data
  // is only written back (durable_file.hpp, Flush::kWithDirectory): syncQueue()'s cache flush makes
  // it durable with the name, one flush for every message placed meanwhile. A crash before that
  // flush can leave ID.msg holding a delivered message's bytes or a mix: the record line carries
  // the CRC-32 of the bytes after it ("crc"), which loadMessage() checks, and recover() checks the
  // record's id against the name.
  void place(const QueuedMessage& record, const PagedBytes& message, std::string_view prefix = {});
  // fsyncs queue/: every place() that returned before the call is then durable.
  void syncQueue() const;
  // Atomically replaces the stored delivery state.
  void update(const QueuedMessage& record);
  // Removes a message (ID.msg first: a crash in between leaves an ID.env recover() deletes).
  // Returns false if it was not there.
  bool remove(const QueueId& id);
  // remove() for a delivered message: its ID.msg goes to free/ for reuse when there is room
  // and the message is small enough, else it is unlinked.
  void retire(const QueuedMessage& record);
  static constexpr std::size_t kMaxFree = 256;
  // place() keeps queue files at multiples of this size, padding the record line.
  static constexpr std::uint64_t kSizeStep = 1024;
  bool exists(const QueueId& id) const;
  std::string readMessage(const QueueId& id) const;
  // The same bytes for delivery: read into memory when the file is small, mapped when it is
  // larger than kMapAbove, so that a large message costs page cache rather than process memory
  // while it is sent (a mapping's set-up and teardown cost more than reading a small file).
  // Throws IoError, or std::runtime_error for a file without a record line.
  static constexpr std::size_t kMapAbove = 1 << 20;
  class StoredMessage {
   public:
    std::string_view data() const {
      return (mapped() ? file_.bytes() : std::string_view(text_)).substr(offset_);
    }
    // A mapped file is never empty: only files over kMapAbove are mapped.
    bool mapped() const { return !file_.bytes().empty(); }
    // data() with its mapping, for a send that gives the pages it has sent back.
    PagedBytes paged() const { return {data(), mapped() ? &file_ : nullptr}; }

   private:
    friend class Spool;
    std::string text_;
    MappedFile file_;
    std::size_t offset_ = 0;
  };
  // Throws CorruptMessage (after moving the files to corrupt/) when the bytes do not match the
  // checksum in the record line: see place().
  StoredMessage loadMessage(const QueueId& id) const;
  // nullopt if absent; throws std::runtime_error if malformed.
  std::optional<QueuedMessage> read(const QueueId& id) const;
  // Start-up recovery: clears tmp/, removes what an interrupted removal left, moves unreadable
  // messages to corrupt/, takes up the files in free/ for reuse, and returns every committed
  // message.
  std::vector<QueuedMessage> recover();
  // Read-only listing for the CLI (skips what it cannot read, reporting it in `problems`).
  std::vector<QueuedMessage> list(std::vector<std::string>* problems = nullptr) const;

  std::filesystem::path messagePath(const QueueId& id) const;
  // The changed delivery state, when there is one.
  std::filesystem::path recordPath(const QueueId& id) const;

 private:
  std::filesystem::path root_;
  std::filesystem::path tmp_;
  std::filesystem::path queue_;
  std::filesystem::path corrupt_;
  std::filesystem::path free_dir_;
  GroupSync queue_sync_;  // the fsync of queue/ after renames, shared by concurrent commits
  struct FreeFile {
    std::string name;  // in free/
    std::uint64_t size = 0;
  };
  // place()'s choice among the free files for a file of `size` bytes: one it fills exactly
  // after padding (fits), else any other (written over and cut or grown), else none.
  struct Taken {
    FreeFile file;
    bool fits = false;
  };
  std::optional<Taken> takeFree(std::uint64_t size);
  void moveToCorrupt(const std::string& name) const;
  std::mutex free_mutex_;
  std::vector<FreeFile> free_;  // files in free/ that no one is writing over
};

}  // namespace relayguard::queue
