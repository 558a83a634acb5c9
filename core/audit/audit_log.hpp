// audit_log: the tamper-evident verdict log (CONTRACT.md "The audit log").
//
// JSON Lines files in <spool_dir>/audit/, named audit-<UTC time>-<seq>.jsonl so that file-name
// order is log order. Every line carries "prev": the hex SHA-256 of the previous line's bytes
// (without its newline), across files; the very first line has 64 zeros. append() returns only
// when the line is on disk (fdatasync, with group commit: concurrent appenders share one sync),
// so a verdict is recorded before the SMTP reply it describes. Files rotate by size and by day.
//
// Keyed anchors: with an anchor key (a file kept outside the spool), an "anchor" line is written
// at most every anchor_interval (when there is something new to anchor), at rotation and at
// close. It holds the chain head and HMAC-SHA-256(key, head || time). verify() with the key
// then proves that everything up to the last anchor is exactly what the relay wrote: rewriting
// the chain or deleting lines before an anchor needs the key. It cannot prove anything about the
// lines after the last anchor (at most anchor_interval's worth), and whoever holds the key can
// forge a chain; keep the key readable by the relay only and off the spool's disk.
//
// Thread-safe. A torn last line (a crash mid-write, never acknowledged) is truncated on open.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config/config.hpp"
#include "core/util/group_sync.hpp"

namespace relayguard {

struct AuditOptions {
  std::filesystem::path dir;
  std::uint64_t max_file_bytes = 64ULL << 20;
  std::optional<std::string> anchor_key;  // raw key bytes
  std::chrono::seconds anchor_interval{60};

  // <spool_dir>/audit with the config's [audit] settings; reads the anchor key (throws
  // ConfigError if it cannot be read safely).
  static AuditOptions fromConfig(const Config& config);
};

class AuditLog {
 public:
  // Opens (creating the folder) and finds the chain head. Throws IoError / std::runtime_error.
  explicit AuditLog(AuditOptions options);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Adds "prev" to the record, writes it as one line and returns once it is durable.
  // Throws IoError when it cannot be written (the caller must not acknowledge what it records).
  void append(nlohmann::json record);
  // append() in two halves, for a caller that shares one sync with other files: write() adds the
  // line without waiting for the disk; syncWritten() returns once every line written so far is
  // on disk (fdatasync, shared with concurrent callers; none when a completed one covers them).
  // Nothing may acknowledge what the line records in between. Both throw IoError.
  void write(nlohmann::json record);
  void syncWritten();
  // How many fdatasyncs syncWritten() has made (for tests).
  std::uint64_t syncs() const;
  // Writes an anchor line now if there is an unanchored line and a key.
  void anchor();

  // The folder of the log files (searchAuditLog reads it).
  const std::filesystem::path& dir() const { return options_.dir; }

  static std::string sha256Hex(std::string_view bytes);
  static std::string hmacHex(const std::string& key, std::string_view bytes);

 private:
  void openNewFile();
  void writeLocked(nlohmann::json record);
  void maybeRotateLocked();
  void anchorLocked();

  AuditOptions options_;
  mutable std::mutex mutex_;  // guards the file, the head and the counts
  GroupSync sync_;            // one fdatasync at a time; the others ride along
  int fd_ = -1;
  std::filesystem::path file_;
  std::uint64_t file_bytes_ = 0;
  int file_day_ = -1;
  std::string head_;                 // hash of the last line written
  std::uint64_t lines_written_ = 0;  // lines written since the log was opened
  std::uint64_t lines_synced_ = 0;   // how many of them a completed sync covers
  std::uint64_t syncs_ = 0;
  bool unanchored_ = false;
  std::chrono::steady_clock::time_point last_anchor_;
};

struct AuditVerifyResult {
  bool ok = true;
  std::string problem;  // "file:line: what is wrong" for the first bad line
  std::size_t lines = 0;
  std::size_t anchors = 0;
  std::size_t unanchored_tail = 0;  // lines after the last anchor (with a key)
  std::string last_anchor_time;     // RFC 3339, empty if none
};

// Walks every file in name order. With a key, anchors must verify and at least one must exist
// once there are lines.
AuditVerifyResult verifyAuditLog(const std::filesystem::path& dir,
                                 const std::optional<std::string>& key);

}  // namespace relayguard
