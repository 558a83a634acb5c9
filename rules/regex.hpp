// regex: a PCRE2 pattern compiled once (with JIT when available) and matched with hard limits,
// because patterns are written by operators and subjects by attackers. A match that hits the
// match or depth limit is reported as kError, never as "no match", so a crafted message cannot
// buy a pass by making a rule blow up. Thread-safe: the compiled code is shared read-only,
// match() allocates its own match data and uses a per-thread match context and JIT stack (a JIT
// stack must never be used by two threads at once).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace relayguard::rules {

class Regex {
 public:
  enum class Result { kNoMatch, kMatch, kError };

  struct CompileError {
    std::string message;
    std::size_t offset = 0;  // in the pattern
  };

  // UTF-8 patterns and subjects (invalid UTF-8 in subjects does not fail the match).
  static std::optional<Regex> compile(std::string_view pattern, CompileError& error);
  Result match(std::string_view subject) const;
  const std::string& pattern() const { return pattern_; }
  // False when the JIT could not be used (e.g. W^X memory policy) and the interpreter runs.
  bool usesJit() const;

 private:
  struct Code;
  Regex(std::string pattern, std::shared_ptr<const Code> code)
      : pattern_(std::move(pattern)), code_(std::move(code)) {}
  std::string pattern_;
  std::shared_ptr<const Code> code_;
};

}  // namespace relayguard::rules
