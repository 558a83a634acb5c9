// quarantine_store: messages kept out of delivery by a `quarantine` verdict, under
// <spool_dir>/quarantine/: ID.msg (the message as it would have been delivered) and ID.json (the
// envelope and the verdict record, with the Subject for listings). Written with the spool's
// commit protocol (fsync, rename, ID.json last) before the SMTP client gets its 250.
// The review commands (list, show, release, delete) will read it: see the quarantine issue.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace relayguard {

class QuarantineStore {
 public:
  // Creates <spool>/quarantine and <spool>/tmp if needed. Throws IoError.
  explicit QuarantineStore(const std::filesystem::path& spool_dir);

  // Throws IoError (diskFull() for ENOSPC); leaves nothing behind on failure.
  void store(const std::string& id, std::string_view message, const nlohmann::json& record);
  // Removes a stored message (record first); false if it was not there.
  bool remove(const std::string& id);
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path tmp_;
  std::filesystem::path dir_;
};

}  // namespace relayguard
