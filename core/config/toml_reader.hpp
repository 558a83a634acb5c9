// toml_reader: typed, position-aware access to a parsed TOML table for our config files.
//
// Every getter reports a wrong type or a bad value as ConfigError at the node's file:line:col,
// and `finish()` refuses keys nobody asked for, so a typo ("max_recipient") is an error rather
// than a silently ignored setting. Shared by the main config and the rules directory.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "core/config/config_error.hpp"

namespace relayguard {

// Parses a TOML file; syntax errors become ConfigError with the parser's position.
toml::table parseTomlFile(const std::filesystem::path& path);

class TomlReader {
 public:
  TomlReader(const toml::table& table, std::filesystem::path file);

  SourcePosition position() const { return at(table_); }
  SourcePosition at(const toml::node& node) const;
  const std::filesystem::path& file() const { return file_; }

  bool has(std::string_view key) const;
  std::optional<std::string> string(std::string_view key);
  std::string requiredString(std::string_view key);
  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max);
  std::optional<bool> boolean(std::string_view key);
  // A size: integer bytes or "25M".
  std::optional<std::uint64_t> size(std::string_view key);
  // A duration: integer seconds or "5m".
  std::optional<std::chrono::seconds> duration(std::string_view key);
  std::optional<std::vector<std::string>> stringArray(std::string_view key);
  std::vector<std::chrono::seconds> durationArray(std::string_view key);
  // One of `allowed`.
  std::optional<std::string> choice(std::string_view key, const std::vector<std::string>& allowed);
  // A sub-table ([tls]) or nullptr.
  const toml::table* table(std::string_view key);
  // An array of tables ([[listener]]); empty when absent.
  std::vector<const toml::table*> tableArray(std::string_view key);
  // The node of a key, for positions in semantic errors (the table's position if absent).
  SourcePosition keyPosition(std::string_view key) const;
  // Element i's position within an array key.
  SourcePosition elementPosition(std::string_view key, std::size_t i) const;

  // Refuses every key that no getter above looked at.
  void finish() const;

  [[noreturn]] void fail(std::string_view key, const std::string& what) const;

 private:
  const toml::node* node(std::string_view key);
  const toml::table& table_;
  std::filesystem::path file_;
  std::set<std::string, std::less<>> seen_;
};

}  // namespace relayguard
