// config_error: the exception for configuration and rules mistakes a user can make. Its text is
// always "file:line:col: what is wrong" (or "file: what is wrong" when no position applies), so
// `relayguard check` and `serve` print it as is.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

namespace relayguard {

struct SourcePosition {
  std::filesystem::path file;
  unsigned line = 0;
  unsigned column = 0;
  std::string str() const;
};

class ConfigError : public std::runtime_error {
 public:
  ConfigError(const SourcePosition& where, const std::string& what)
      : std::runtime_error(where.str() + ": " + what) {}
};

}  // namespace relayguard
