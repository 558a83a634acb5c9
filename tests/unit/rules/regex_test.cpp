// regex_test: the PCRE2 wrapper: matching, UTF-8 (valid and invalid subjects), compile errors
// with their offsets, the match limits that keep hostile subjects from hanging a rule, the
// interpreter fallback where executable memory is forbidden, and concurrent use of one compiled
// pattern from several threads.
#include "rules/regex.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <pcre2.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace relayguard::rules {
namespace {

using Result = Regex::Result;

Regex compiled(std::string_view pattern) {
  Regex::CompileError error;
  auto regex = Regex::compile(pattern, error);
  if (!regex) {
    ADD_FAILURE() << "pattern '" << pattern << "' did not compile: " << error.message;
    regex = Regex::compile("(*FAIL)", error);
  }
  return *regex;
}

Regex::CompileError compileError(std::string_view pattern) {
  Regex::CompileError error;
  EXPECT_FALSE(Regex::compile(pattern, error).has_value()) << "pattern '" << pattern << "'";
  return error;
}

TEST(Regex, MatchesASubjectContainingThePattern) {
  EXPECT_EQ(compiled(R"(\.exe$)").match("invoice.pdf.exe"), Result::kMatch);
}

TEST(Regex, ReportsNoMatch) {
  EXPECT_EQ(compiled(R"(\.exe$)").match("invoice.exe.pdf"), Result::kNoMatch);
}

TEST(Regex, KeepsThePatternText) {
  EXPECT_EQ(compiled("^a+b$").pattern(), "^a+b$");
}

TEST(Regex, IsCaseSensitiveUnlessTheInlineFlagSaysOtherwise) {
  EXPECT_EQ(compiled(R"(\.exe$)").match("SETUP.EXE"), Result::kNoMatch);
  EXPECT_EQ(compiled(R"((?i)\.exe$)").match("SETUP.EXE"), Result::kMatch);
}

TEST(Regex, MatchesAnEmptySubject) {
  EXPECT_EQ(compiled("^$").match(""), Result::kMatch);
  EXPECT_EQ(compiled("x").match(""), Result::kNoMatch);
}

TEST(Regex, TreatsTheSubjectAsUtf8Characters) {
  // "café" is 4 characters in 5 bytes.
  EXPECT_EQ(compiled("^.{4}$").match("caf\xc3\xa9"), Result::kMatch);
  EXPECT_EQ(compiled("^(?i)CAFÉ$").match("caf\xc3\xa9"), Result::kMatch);
}

TEST(Regex, MatchesAroundInvalidUtf8InTheSubject) {
  EXPECT_EQ(compiled("evil").match("\xff\xfe evil \xc3"), Result::kMatch);
}

TEST(Regex, NeverMatchesInvalidUtf8BytesThemselves) {
  EXPECT_EQ(compiled("^.$").match("\xff"), Result::kNoMatch);
  EXPECT_EQ(compiled("^.$").match("\xc3"), Result::kNoMatch);  // truncated sequence
}

TEST(Regex, ReportsCompileErrorMessageAndOffset) {
  const auto error = compileError("ab(c");
  EXPECT_EQ(error.message, "missing closing parenthesis");
  EXPECT_EQ(error.offset, 4U);
}

TEST(Regex, ReportsTheOffsetOfAnUnmatchedParenthesis) {
  const auto error = compileError("abc)def");
  EXPECT_EQ(error.message, "unmatched closing parenthesis");
  EXPECT_EQ(error.offset, 3U);
}

TEST(Regex, RefusesBackslashC) {
  // \C matches one code unit and could split a UTF-8 character.
  const auto error = compileError(R"(a\C)");
  EXPECT_EQ(error.message, "using \\C is disabled by the application");
  EXPECT_EQ(error.offset, 3U);
}

TEST(Regex, RefusesAPatternThatIsNotUtf8) {
  const auto error = compileError("ab\xff");
  EXPECT_NE(error.message.find("UTF-8 error"), std::string::npos) << error.message;
  EXPECT_EQ(error.offset, 2U);
}

TEST(Regex, CatastrophicBacktrackingStopsAtTheMatchLimit) {
  // (a+)+$ against "aaa…ab" needs 2^n steps; the match limit turns that into an error within
  // milliseconds (JIT: ~2 ms, interpreter: ~25 ms) instead of a hang or a silent "no match".
  const Regex evil = compiled("(a+)+$");
  const std::string subject = std::string(64, 'a') + "b";
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(evil.match(subject), Result::kError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(Regex, StackHungryPatternOnAHugeSubjectIsAnErrorNotACrash) {
  // Every repetition of the group keeps a backtracking point: 1 MiB of JIT stack (or the
  // interpreter's depth limit) runs out long before 1'000'000 of them.
  const Regex hungry = compiled("^(a|b)*$");
  EXPECT_EQ(hungry.match(std::string(1'000, 'a')), Result::kMatch);
  EXPECT_EQ(hungry.match(std::string(1'000'000, 'a')), Result::kError);
}

TEST(Regex, UsesTheJitWhereTheSystemAllowsIt) {
  std::uint32_t jit_built = 0;
  pcre2_config(PCRE2_CONFIG_JIT, &jit_built);
  if (jit_built == 0) {
    GTEST_SKIP() << "libpcre2 built without JIT support";
  }
  EXPECT_TRUE(compiled("a+b").usesJit());
}

// PR_SET_MDWE / PR_GET_MDWE (Linux 6.3) with PR_MDWE_REFUSE_EXEC_GAIN: what systemd's
// MemoryDenyWriteExecute enforces. Not in Debian 12's kernel headers yet.
constexpr int kPrSetMdwe = 65;
constexpr int kPrGetMdwe = 66;
constexpr unsigned long kMdweRefuseExecGain = 1;

// Forbids executable memory for the rest of the process, then checks that patterns compile
// without the JIT and the interpreter gives the same results within the same kind of limits.
// Runs in a freshly started child (MDWE cannot be undone, and a process that has used the JIT
// before keeps executable pages it could still reuse). Returns the number of the failed check.
int checkInterpreterWithoutJit() {
  if (::prctl(kPrSetMdwe, kMdweRefuseExecGain, 0UL, 0UL, 0UL) != 0) {
    return 1;
  }
  Regex::CompileError error;
  const auto exe = Regex::compile(R"((?i)\.exe$)", error);
  const auto evil = Regex::compile("(a+)+$", error);
  const auto hungry = Regex::compile("^(a|b)*$", error);
  if (!exe || !evil || !hungry) {
    return 2;
  }
  if (exe->usesJit() || evil->usesJit() || hungry->usesJit()) {
    return 3;
  }
  if (exe->match("SETUP.EXE") != Result::kMatch || exe->match("setup.txt") != Result::kNoMatch) {
    return 4;
  }
  if (evil->match(std::string(64, 'a') + "b") != Result::kError) {
    return 5;
  }
  // The depth limit lets the interpreter take what the JIT's stack takes (see regex.cpp).
  if (hungry->match(std::string(20'000, 'a')) != Result::kMatch ||
      hungry->match(std::string(1'000'000, 'a')) != Result::kError) {
    return 6;
  }
  return 0;
}

TEST(Regex, FallsBackToTheInterpreterWhenExecutableMemoryIsForbidden) {
  if (::prctl(kPrGetMdwe, 0UL, 0UL, 0UL, 0UL) < 0) {
    GTEST_SKIP() << "kernel without PR_SET_MDWE (Linux < 6.3)";
  }
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // re-executes the binary: a fresh process
  EXPECT_EXIT(::_exit(checkInterpreterWithoutJit()), ::testing::ExitedWithCode(0), "");
}

TEST(Regex, OnePatternMatchesConcurrentlyFromFourThreads) {
  const Regex regex = compiled(R"((?i)\.(exe|scr|js)$)");
  const Regex evil = compiled("(a+)+$");
  const std::string bad = std::string(40, 'a') + "b";
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2'000; ++i) {
        const std::string name = "file" + std::to_string(t * 10'000 + i);
        if (regex.match(name + ".EXE") != Result::kMatch ||
            regex.match(name + ".txt") != Result::kNoMatch) {
          ++wrong;
        }
        if (i % 500 == 0 && evil.match(bad) != Result::kError) {
          ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace relayguard::rules
