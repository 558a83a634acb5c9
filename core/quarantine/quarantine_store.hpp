// quarantine_store: messages kept out of delivery by a `quarantine` verdict, under
// <spool_dir>/quarantine/: ID.msg (the message as it would have been delivered) and ID.json (the
// verdict record plus "id", "subject", "helo", "size" and "envelope", the queue record the
// message gets when it is released). Written with the spool's commit protocol (fsync, rename,
// ID.json last) before the SMTP client gets its 250.
//
// Reading is safe while the relay runs (a record is either there whole or not at all); changes
// (release, delete) go through QuarantineReview, in the relay when it runs.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/util/mapped_file.hpp"

namespace relayguard {

class QuarantineStore {
 public:
  // Creates <spool>/quarantine and <spool>/tmp if needed. Throws IoError.
  explicit QuarantineStore(const std::filesystem::path& spool_dir);

  // Stores prefix + message (prefix: header fields the relay adds in front) and the record.
  // Throws IoError (diskFull() for ENOSPC); leaves nothing behind on failure.
  void store(const std::string& id, const PagedBytes& message, const nlohmann::json& record,
             std::string_view prefix = {});
  // Removes a stored message (record first); false if it was not there.
  bool remove(const std::string& id);

  // Every stored record, oldest first (by "time"); unreadable records are reported in problems
  // ("path: what is wrong") and skipped.
  std::vector<nlohmann::json> list(std::vector<std::string>* problems = nullptr) const;
  // One record / one message; nullopt if there is no such id (or it is not a valid id).
  std::optional<nlohmann::json> read(const std::string& id) const;
  std::optional<std::string> readMessage(const std::string& id) const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path tmp_;
  std::filesystem::path dir_;
};

}  // namespace relayguard
