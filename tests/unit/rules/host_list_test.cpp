// host_list_test: lists/NAME.txt parsing (comments, blank lines, case, trailing dots, errors at
// their line and column) and matching a host or its parent domains.
#include <filesystem>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "core/config/config_error.hpp"
#include "rules/rule_set.hpp"
#include "tests/support/temp_dir.hpp"

namespace relayguard::rules {
namespace {

namespace fs = std::filesystem;

class HostListTest : public ::testing::Test {
 protected:
  HostList load(std::string_view text) { return HostList::load(dir_.write("list.txt", text)); }

  // Expects loading `text` to fail with "<file>:line:col: what".
  void expectError(std::string_view text, unsigned line, unsigned col, std::string_view what) {
    const fs::path file = dir_.write("list.txt", text);
    try {
      HostList::load(file);
      ADD_FAILURE() << "no error; expected " << line << ":" << col << ": " << what;
    } catch (const ConfigError& e) {
      const std::string expected = file.string() + ":" + std::to_string(line) + ":" +
                                   std::to_string(col) + ": " + std::string(what);
      EXPECT_EQ(std::string(e.what()), expected);
    }
  }

  test::TempDir dir_;
};

TEST_F(HostListTest, SkipsCommentsAndBlankLines) {
  const HostList list = load(
      "# phishing domains\n"
      "\n"
      "evil.test   # reported 2024-05-01\n"
      "   \t\n"
      "  bad.example\n"
      "#not.listed\n");
  EXPECT_EQ(list.size(), 2U);
  EXPECT_TRUE(list.containsHostOrParent("evil.test"));
  EXPECT_TRUE(list.containsHostOrParent("bad.example"));
  EXPECT_FALSE(list.containsHostOrParent("not.listed"));
}

TEST_F(HostListTest, StoresEntriesLowerCaseWithoutTrailingDot) {
  const HostList list = load("Evil.EXAMPLE.net.\n");
  EXPECT_TRUE(list.containsHostOrParent("evil.example.net"));
}

TEST_F(HostListTest, AcceptsCrlfLineEndings) {
  const HostList list = load("one.test\r\ntwo.test\r\n");
  EXPECT_EQ(list.size(), 2U);
  EXPECT_TRUE(list.containsHostOrParent("two.test"));
}

TEST_F(HostListTest, AcceptsALastLineWithoutNewline) {
  EXPECT_TRUE(load("a.test\nb.test").containsHostOrParent("b.test"));
}

TEST_F(HostListTest, CountsADuplicateEntryOnce) {
  EXPECT_EQ(load("a.test\nA.TEST\na.test.\n").size(), 1U);
}

TEST_F(HostListTest, AnEmptyFileIsAnEmptyList) {
  const HostList list = load("");
  EXPECT_EQ(list.size(), 0U);
  EXPECT_FALSE(list.containsHostOrParent("example.net"));
}

TEST_F(HostListTest, ReportsAnInvalidEntryAtItsLineAndColumn) {
  expectError("good.test\n# fine\n  bad_host!.test  # oops\n", 3, 3,
              "'bad_host!.test' is not a valid host name (letters, digits, '-' and '.'; "
              "internationalised names in their xn-- form)");
}

TEST_F(HostListTest, ReportsTwoHostsOnOneLine) {
  expectError("a.test b.test\n", 1, 7, "one host name per line");
}

TEST_F(HostListTest, ExplainsThatWildcardsAreNotNeeded) {
  expectError("\n*.example.net\n", 2, 1,
              "'*.example.net' is not a valid host name (no wildcards: a listed domain already "
              "covers all its subdomains)");
}

TEST_F(HostListTest, RefusesALabelStartingWithAHyphen) {
  expectError("-bad.test\n", 1, 1,
              "'-bad.test' is not a valid host name (letters, digits, '-' and '.'; "
              "internationalised names in their xn-- form)");
}

TEST_F(HostListTest, RefusesAnEmptyLabel) {
  expectError("a..test\n", 1, 1,
              "'a..test' is not a valid host name (letters, digits, '-' and '.'; "
              "internationalised names in their xn-- form)");
}

TEST_F(HostListTest, ReportsAMissingFile) {
  const fs::path file = dir_.path() / "absent.txt";
  try {
    HostList::load(file);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), file.string() + ": cannot open the list for reading");
  }
}

class HostListMatching : public HostListTest {
 protected:
  HostList list_ = load("example.net\nsub.example.org\nbad-tld\n");
};

TEST_F(HostListMatching, MatchesTheListedHostItself) {
  EXPECT_TRUE(list_.containsHostOrParent("example.net"));
}

TEST_F(HostListMatching, MatchesASubdomainOfAListedDomain) {
  EXPECT_TRUE(list_.containsHostOrParent("evil.example.net"));
  EXPECT_TRUE(list_.containsHostOrParent("a.b.c.example.net"));
}

TEST_F(HostListMatching, DoesNotMatchADomainThatOnlyEndsWithTheSameLetters) {
  EXPECT_FALSE(list_.containsHostOrParent("notexample.net"));
  EXPECT_FALSE(list_.containsHostOrParent("evil-example.net"));
}

TEST_F(HostListMatching, DoesNotMatchTheParentOfAListedHost) {
  EXPECT_FALSE(list_.containsHostOrParent("example.org"));
  EXPECT_TRUE(list_.containsHostOrParent("x.sub.example.org"));
}

TEST_F(HostListMatching, NeverMatchesOnABareTldThatIsNotListed) {
  EXPECT_FALSE(list_.containsHostOrParent("net"));
  EXPECT_FALSE(list_.containsHostOrParent("other.net"));
}

TEST_F(HostListMatching, MatchesUnderATldThatIsListed) {
  EXPECT_TRUE(list_.containsHostOrParent("anything.bad-tld"));
}

TEST_F(HostListMatching, IgnoresCaseAndATrailingDot) {
  EXPECT_TRUE(list_.containsHostOrParent("Evil.EXAMPLE.Net."));
  EXPECT_TRUE(list_.containsHostOrParent("EXAMPLE.NET"));
}

TEST_F(HostListMatching, DoesNotMatchEmptyOrDotOnlyHosts) {
  EXPECT_FALSE(list_.containsHostOrParent(""));
  EXPECT_FALSE(list_.containsHostOrParent("."));
}

}  // namespace
}  // namespace relayguard::rules
