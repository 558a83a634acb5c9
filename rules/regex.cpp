// regex: PCRE2 compilation (JIT when the system allows it) and bounded matching (see regex.hpp).
//
// Limits, because a rule's pattern meets attacker-written text:
//   match limit   1'000'000 calls of the internal match() (interpreter) / JIT equivalent
//   depth limit   100'000 nested backtracking frames (interpreter only; the JIT has its stack)
//   heap limit    32 MiB of backtracking frames per match (interpreter only)
//   JIT stack     32 KiB growing to 1 MiB, one per thread
// The depth limit is set so that the interpreter (used where the JIT is not allowed) accepts
// about what the JIT's 1 MiB stack does: with 10'000, ^(a|b)*$ already failed on 5'000
// characters in the interpreter, where the JIT handles 20'000; both fail by 50'000.
// Hitting any of them, or any other PCRE2 error, makes match() return kError.
#include "rules/regex.hpp"

#include <cstdint>

#include <pcre2.h>

namespace relayguard::rules {
namespace {

constexpr std::uint32_t kMatchLimit = 1'000'000;
constexpr std::uint32_t kDepthLimit = 100'000;
constexpr std::uint32_t kHeapLimitKib = 32 * 1024;
constexpr PCRE2_SIZE kJitStackStart = 32 * 1024;
constexpr PCRE2_SIZE kJitStackMax = 1024 * 1024;

constexpr std::uint32_t kCompileOptions =
    PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C;

struct CodeFree {
  void operator()(pcre2_code* p) const { pcre2_code_free(p); }
};
struct MatchDataFree {
  void operator()(pcre2_match_data* p) const { pcre2_match_data_free(p); }
};
struct MatchContextFree {
  void operator()(pcre2_match_context* p) const { pcre2_match_context_free(p); }
};
struct JitStackFree {
  void operator()(pcre2_jit_stack* p) const { pcre2_jit_stack_free(p); }
};

// What one thread needs to run a match: a match context carrying the limits and pointing at
// this thread's JIT stack. A JIT stack must never be used by two threads at once, and the
// context holds the stack, so both are per thread.
class ThreadMatchContext {
 public:
  ThreadMatchContext()
      : jit_stack_(pcre2_jit_stack_create(kJitStackStart, kJitStackMax, nullptr)),
        context_(pcre2_match_context_create(nullptr)) {
    if (context_) {
      pcre2_set_match_limit(context_.get(), kMatchLimit);
      pcre2_set_depth_limit(context_.get(), kDepthLimit);
      pcre2_set_heap_limit(context_.get(), kHeapLimitKib);
      if (jit_stack_) {
        // Without it the JIT runs on 32 KiB of the machine stack: smaller, still bounded.
        pcre2_jit_stack_assign(context_.get(), nullptr, jit_stack_.get());
      }
    }
  }

  pcre2_match_context* get() const { return context_.get(); }

 private:
  std::unique_ptr<pcre2_jit_stack, JitStackFree> jit_stack_;
  std::unique_ptr<pcre2_match_context, MatchContextFree> context_;
};

pcre2_match_context* threadMatchContext() {
  thread_local ThreadMatchContext context;
  return context.get();
}

std::string errorMessage(int code) {
  PCRE2_UCHAR buffer[256];
  const int n = pcre2_get_error_message(code, buffer, sizeof buffer);
  if (n < 0) {
    return "PCRE2 error " + std::to_string(code);
  }
  return std::string(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(n));
}

// PCRE2 10.42 refuses a null pointer even with length 0; an empty string_view may carry one.
PCRE2_SPTR bytes(std::string_view s) {
  return reinterpret_cast<PCRE2_SPTR>(s.data() != nullptr ? s.data() : "");
}

}  // namespace

struct Regex::Code {
  std::unique_ptr<pcre2_code, CodeFree> code;
  bool jit = false;
};

std::optional<Regex> Regex::compile(std::string_view pattern, CompileError& error) {
  int code = 0;
  PCRE2_SIZE offset = 0;
  std::unique_ptr<pcre2_code, CodeFree> compiled(
      pcre2_compile(bytes(pattern), pattern.size(), kCompileOptions, &code, &offset, nullptr));
  if (!compiled) {
    error.message = errorMessage(code);
    error.offset = offset;
    return std::nullopt;
  }
  auto shared = std::make_shared<Code>();
  // JIT compilation fails where writable+executable memory is forbidden (systemd's
  // MemoryDenyWriteExecute, SELinux execmem): the interpreter then runs the same pattern.
  shared->jit = pcre2_jit_compile(compiled.get(), PCRE2_JIT_COMPLETE) == 0;
  shared->code = std::move(compiled);
  return Regex(std::string(pattern), std::move(shared));
}

bool Regex::usesJit() const {
  return code_->jit;
}

Regex::Result Regex::match(std::string_view subject) const {
  pcre2_match_context* context = threadMatchContext();
  // One ovector pair: we only ask whether it matches. Allocated per call so that the
  // interpreter's backtracking frames (kept in the match data) are freed after each match
  // instead of staying with the thread.
  const std::unique_ptr<pcre2_match_data, MatchDataFree> data(pcre2_match_data_create(1, nullptr));
  if (context == nullptr || !data) {
    return Result::kError;  // out of memory
  }
  const int rc =
      pcre2_match(code_->code.get(), bytes(subject), subject.size(), 0, 0, data.get(), context);
  if (rc >= 0) {
    return Result::kMatch;  // 0: matched, the ovector was too small to hold the groups
  }
  if (rc == PCRE2_ERROR_NOMATCH) {
    return Result::kNoMatch;
  }
  // PCRE2_ERROR_MATCHLIMIT, _DEPTHLIMIT, _HEAPLIMIT, _JIT_STACKLIMIT, _NOMEMORY, ...
  return Result::kError;
}

}  // namespace relayguard::rules
