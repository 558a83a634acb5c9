// users_file: the SMTP AUTH users, one "name:argon2id-PHC-string" a line, as written by
// `relayguard user add` and read by the relay.
//
// The file holds password hashes, so it must be private to its owner: a file readable or
// writable by group or others is refused (ConfigError, "chmod 600"), checked on the opened file.
// Writes go through durable_file (temporary name, fsync, rename), mode 0600, so a reader never
// sees half a file. A missing file is an empty set of users (no one can authenticate yet).
// Names are 1-255 printable US-ASCII characters without ':' or spaces (an address such as
// alice@example.test is fine); `#` starts a comment line.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace relayguard::auth {

// Identifies one version of a file on disk, to notice that it was replaced or edited.
struct FileStamp {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t size = -1;  // -1: the file does not exist
  bool operator==(const FileStamp&) const = default;
};

class UsersFile {
 public:
  // Reads and checks the file. Throws ConfigError ("file:line:col: ...") for bad permissions,
  // a malformed line or a duplicate name.
  static UsersFile load(const std::filesystem::path& file);
  // The stamp of the file as it is now on disk (size -1 when it does not exist).
  static FileStamp stampOf(const std::filesystem::path& file);
  static bool validName(std::string_view name);

  // The stored hash of a user, or nullptr.
  const std::string* hashFor(std::string_view name) const;
  std::size_t size() const { return users_.size(); }
  // The stamp of the file this set was loaded from.
  const FileStamp& stamp() const { return stamp_; }

  // Adds or replaces a user; returns false when the user already existed (replaced).
  bool set(const std::string& name, std::string phc);
  // Returns false when there was no such user.
  bool remove(std::string_view name);
  // Writes the whole set durably (temporary file in the same folder, fsync, rename), mode 0600.
  // Throws IoError.
  void save(const std::filesystem::path& file) const;

 private:
  std::map<std::string, std::string, std::less<>> users_;
  FileStamp stamp_;
};

}  // namespace relayguard::auth
