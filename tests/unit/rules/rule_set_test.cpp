// rule_set_test: loading the rules directory: the CONTRACT example, file-name order, which files
// are rule files, the conditions of each stage, host lists, and every error with its exact
// "file:line:col" position.
#include "rules/rule_set.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "core/config/config_error.hpp"
#include "tests/support/temp_dir.hpp"

namespace relayguard::rules {
namespace {

namespace fs = std::filesystem;
using Result = Regex::Result;

constexpr std::string_view kContractExample = R"(# 20-attachments.toml
[[rule]]
id = "att-executable"                 # unique in the directory
stage = "attachments"                 # attachments | urls | content
description = "Executable attachments"
action = "quarantine"                 # reject | quarantine | tag | allow
filename = '(?i)\.(exe|scr|js|vbs|bat|cmd|ps1|msi|lnk)$'
)";

// A valid rule with the given id, for files that only need some rule in them.
std::string simpleRule(std::string_view id) {
  return "[[rule]]\nid = \"" + std::string(id) +
         "\"\nstage = \"content\"\naction = \"tag\"\npattern = 'x'\n";
}

class RuleSetTest : public ::testing::Test {
 protected:
  RuleSetTest() { fs::create_directories(dir()); }

  fs::path dir() const { return tmp_.path() / "rules"; }
  void write(const fs::path& name, std::string_view text) const {
    tmp_.write(fs::path("rules") / name, text);
  }
  RuleSet load() const { return RuleSet::load(dir()); }

  // The error text of loading the directory, or "" when it loads.
  std::string loadError() const {
    try {
      load();
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }

  // Expects "<dir>/<file>:line:col: what".
  void expectError(std::string_view file, unsigned line, unsigned col,
                   std::string_view what) const {
    const std::string expected = (dir() / file).string() + ":" + std::to_string(line) + ":" +
                                 std::to_string(col) + ": " + std::string(what);
    EXPECT_EQ(loadError(), expected);
  }

  // Writes one rule file "10-rules.toml" and expects the error in it.
  void expectRuleError(std::string_view text, unsigned line, unsigned col,
                       std::string_view what) const {
    write("10-rules.toml", text);
    expectError("10-rules.toml", line, col, what);
  }

  test::TempDir tmp_;
};

TEST_F(RuleSetTest, LoadsTheContractExampleRule) {
  write("20-attachments.toml", kContractExample);
  const RuleSet set = load();
  ASSERT_EQ(set.rules().size(), 1U);
  const Rule& rule = set.rules()[0];
  EXPECT_EQ(rule.id, "att-executable");
  EXPECT_EQ(rule.stage, "attachments");
  EXPECT_EQ(rule.description, "Executable attachments");
  EXPECT_EQ(rule.action, RuleAction::kQuarantine);
  EXPECT_EQ(rule.where.file, dir() / "20-attachments.toml");
  EXPECT_EQ(rule.where.line, 2U);
  ASSERT_TRUE(rule.filename.has_value());
  EXPECT_EQ(rule.filename->pattern(), R"((?i)\.(exe|scr|js|vbs|bat|cmd|ps1|msi|lnk)$)");
  EXPECT_EQ(rule.filename->match("Invoice.PDF.Exe"), Result::kMatch);
  EXPECT_EQ(rule.filename->match("invoice.pdf"), Result::kNoMatch);
  EXPECT_FALSE(rule.content_type || rule.detected_type || rule.mime_problem || rule.url ||
               rule.host_list || rule.pattern || rule.sender || rule.recipient);
  EXPECT_TRUE(rule.header.empty());
  EXPECT_TRUE(set.lists().empty());
}

TEST_F(RuleSetTest, LoadsFilesInFileNameOrder) {
  write("20-b.toml", simpleRule("b"));
  write("9-c.toml", simpleRule("c"));
  write("10-a.toml", simpleRule("a1") + simpleRule("a2"));
  const RuleSet set = load();
  std::vector<std::string> ids;
  for (const Rule& rule : set.rules()) {
    ids.push_back(rule.id);
  }
  // Byte order of the names, not numeric: "9-c" sorts after "20-b".
  EXPECT_EQ(ids, (std::vector<std::string>{"a1", "a2", "b", "c"}));
}

TEST_F(RuleSetTest, IgnoresPipelineToml) {
  write("pipeline.toml", "[[stage]]\ntype = \"attachments\"\n");
  write("20-attachments.toml", kContractExample);
  EXPECT_EQ(load().rules().size(), 1U);
}

TEST_F(RuleSetTest, IgnoresOtherFilesHiddenFilesAndSubdirectories) {
  write("README.md", "not toml [[[");
  write("10-rules.toml.bak", "not toml [[[");
  write(".#10-rules.toml", "not toml [[[");
  write("sub/30-more.toml", "not toml [[[");
  write("10-rules.toml", simpleRule("only"));
  const RuleSet set = load();
  ASSERT_EQ(set.rules().size(), 1U);
  EXPECT_EQ(set.rules()[0].id, "only");
}

TEST_F(RuleSetTest, AnEmptyDirectoryHasNoRules) {
  EXPECT_TRUE(load().rules().empty());
}

TEST_F(RuleSetTest, AFileWithoutRulesIsValid) {
  write("10-empty.toml", "# nothing yet\n");
  EXPECT_TRUE(load().rules().empty());
}

TEST_F(RuleSetTest, ReadsEveryAttachmentsCondition) {
  write("10-att.toml", R"([[rule]]
id = "att"
stage = "attachments"
action = "reject"
filename = '\.zip$'
content_type = '^application/'
detected_type = '^application/x-dosexec$'
mime_problem = '^archive-encrypted$'
sender = '@partner\.test$'
recipient = '^finance@'
)");
  const RuleSet set = load();
  const Rule& rule = set.rules().at(0);
  EXPECT_EQ(rule.action, RuleAction::kReject);
  EXPECT_EQ(rule.filename->pattern(), R"(\.zip$)");
  EXPECT_EQ(rule.content_type->pattern(), "^application/");
  EXPECT_EQ(rule.detected_type->pattern(), "^application/x-dosexec$");
  EXPECT_EQ(rule.mime_problem->pattern(), "^archive-encrypted$");
  EXPECT_EQ(rule.sender->pattern(), R"(@partner\.test$)");
  EXPECT_EQ(rule.recipient->pattern(), "^finance@");
}

TEST_F(RuleSetTest, ReadsUrlsConditionsAndTheirList) {
  write("lists/phishing.txt", "# reported\nevil.test\n");
  write("10-urls.toml", R"([[rule]]
id = "url-phish"
stage = "urls"
action = "reject"
url = '^https?://'
host_list = "phishing"
)");
  const RuleSet set = load();
  const Rule& rule = set.rules().at(0);
  EXPECT_EQ(rule.url->pattern(), "^https?://");
  EXPECT_EQ(rule.host_list_name, "phishing");
  ASSERT_NE(rule.host_list, nullptr);
  EXPECT_TRUE(rule.host_list->containsHostOrParent("login.evil.test"));
  ASSERT_EQ(set.lists().size(), 1U);
  EXPECT_EQ(set.lists().at("phishing"), rule.host_list);
}

TEST_F(RuleSetTest, ReadsHeaderAndPattern) {
  write("10-content.toml", R"([[rule]]
id = "subj"
stage = "content"
action = "tag"
header = "Subject"
pattern = '(?i)invoice'
)");
  const RuleSet set = load();
  const Rule& rule = set.rules().at(0);
  EXPECT_EQ(rule.header, "Subject");
  EXPECT_EQ(rule.pattern->pattern(), "(?i)invoice");
  EXPECT_EQ(rule.action, RuleAction::kTag);
}

TEST_F(RuleSetTest, ReadsEveryAction) {
  write("10-a.toml", R"([[rule]]
id = "r"
stage = "content"
action = "reject"
pattern = 'x'
[[rule]]
id = "q"
stage = "content"
action = "quarantine"
pattern = 'x'
[[rule]]
id = "t"
stage = "content"
action = "tag"
pattern = 'x'
[[rule]]
id = "a"
stage = "content"
action = "allow"
pattern = 'x'
)");
  const RuleSet set = load();
  ASSERT_EQ(set.rules().size(), 4U);
  EXPECT_EQ(set.rules()[0].action, RuleAction::kReject);
  EXPECT_EQ(set.rules()[1].action, RuleAction::kQuarantine);
  EXPECT_EQ(set.rules()[2].action, RuleAction::kTag);
  EXPECT_EQ(set.rules()[3].action, RuleAction::kAllow);
  EXPECT_EQ(toString(RuleAction::kQuarantine), "quarantine");
}

TEST_F(RuleSetTest, AcceptsARuleScopedOnlyBySender) {
  write("10-a.toml", R"([[rule]]
id = "vip"
stage = "content"
action = "allow"
sender = '^ceo@example\.test$'
)");
  const RuleSet set = load();
  const Rule& rule = set.rules().at(0);
  EXPECT_EQ(rule.sender->pattern(), R"(^ceo@example\.test$)");
  EXPECT_FALSE(rule.pattern.has_value());
}

TEST_F(RuleSetTest, ForStageReturnsThatStagesRulesInLoadOrder) {
  write("10-a.toml", simpleRule("c1") + R"([[rule]]
id = "a1"
stage = "attachments"
action = "tag"
filename = 'x'
)" + simpleRule("c2"));
  const RuleSet set = load();
  const auto content = set.forStage("content");
  ASSERT_EQ(content.size(), 2U);
  EXPECT_EQ(content[0]->id, "c1");
  EXPECT_EQ(content[1]->id, "c2");
  ASSERT_EQ(set.forStage("attachments").size(), 1U);
  EXPECT_TRUE(set.forStage("urls").empty());
}

TEST_F(RuleSetTest, RulesSharingAListShareOneLoadedCopy) {
  write("lists/bad.txt", "bad.test\n");
  write("10-a.toml", R"([[rule]]
id = "one"
stage = "urls"
action = "tag"
host_list = "bad"
[[rule]]
id = "two"
stage = "urls"
action = "reject"
host_list = "bad"
)");
  const RuleSet set = load();
  EXPECT_EQ(set.rules()[0].host_list, set.rules()[1].host_list);
  EXPECT_EQ(set.lists().size(), 1U);
}

TEST_F(RuleSetTest, LoadsOnlyTheListsRulesReferTo) {
  write("lists/used.txt", "used.test\n");
  write("lists/other.txt", "not a host list: any format\n");
  write("10-a.toml", R"([[rule]]
id = "one"
stage = "urls"
action = "tag"
host_list = "used"
)");
  const RuleSet set = load();
  ASSERT_EQ(set.lists().size(), 1U);
  EXPECT_EQ(set.lists().count("used"), 1U);
}

// --- errors ---

TEST_F(RuleSetTest, RejectsAMissingDirectory) {
  const fs::path missing = tmp_.path() / "nope";
  try {
    RuleSet::load(missing);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), missing.string() + ": the rules directory does not exist");
  }
}

TEST_F(RuleSetTest, RejectsATomlSyntaxError) {
  expectRuleError(
      "[[rule]]\nid = \"x\nstage = \"content\"\n", 2, 8,
      "Error while parsing string: unescaped control characters other than TAB (U+0009) are "
      "explicitly prohibited");
}

TEST_F(RuleSetTest, RejectsANonRuleTopLevelKey) {
  expectRuleError(simpleRule("ok") + "\n[[rules]]\nid = \"typo\"\n", 7, 3, "unknown key 'rules'");
}

TEST_F(RuleSetTest, RejectsATopLevelValue) {
  expectRuleError("version = 2\n" + simpleRule("ok"), 1, 1, "unknown key 'version'");
}

TEST_F(RuleSetTest, RejectsRuleAsASingleTable) {
  expectRuleError("[rule]\nid = \"x\"\n", 1, 1, "rule: expected an array of tables [[rule]]");
}

TEST_F(RuleSetTest, RejectsAnUnknownKey) {
  expectRuleError(simpleRule("x") + "  filenam = 'x'\n", 6, 3, "unknown key 'filenam'");
}

TEST_F(RuleSetTest, ReportsAMisspeltOnlyConditionAsUnknownNotAsEmpty) {
  expectRuleError("[[rule]]\nid = \"x\"\nstage = \"content\"\naction = \"tag\"\npatern = 'x'\n", 5,
                  1, "unknown key 'patern'");
}

TEST_F(RuleSetTest, RejectsAnUnknownStage) {
  expectRuleError("[[rule]]\nid = \"x\"\nstage = \"attachment\"\naction = \"tag\"\n", 3, 9,
                  "stage: 'attachment' is not one of attachments | urls | content");
}

TEST_F(RuleSetTest, RejectsAnUnknownAction) {
  expectRuleError("[[rule]]\nid = \"x\"\nstage = \"content\"\naction = \"drop\"\npattern = 'x'\n",
                  4, 10, "action: 'drop' is not one of reject | quarantine | tag | allow");
}

TEST_F(RuleSetTest, RejectsAMissingId) {
  expectRuleError("\n[[rule]]\nstage = \"content\"\naction = \"tag\"\npattern = 'x'\n", 2, 1,
                  "missing required key 'id'");
}

TEST_F(RuleSetTest, RejectsAMissingStage) {
  expectRuleError("[[rule]]\nid = \"x\"\naction = \"tag\"\npattern = 'x'\n", 1, 1,
                  "missing required key 'stage'");
}

TEST_F(RuleSetTest, RejectsAMissingAction) {
  expectRuleError("[[rule]]\nid = \"x\"\nstage = \"content\"\npattern = 'x'\n", 1, 1,
                  "missing required key 'action'");
}

TEST_F(RuleSetTest, RejectsAKeyThatDoesNotApplyToTheStage) {
  expectRuleError(std::string(kContractExample) + "url = 'x'\n", 8, 1,
                  "'url' does not apply to stage 'attachments'");
}

TEST_F(RuleSetTest, RejectsAnAttachmentsKeyInTheContentStage) {
  expectRuleError(simpleRule("x") + "filename = 'x'\n", 6, 1,
                  "'filename' does not apply to stage 'content'");
}

TEST_F(RuleSetTest, RejectsHeaderOutsideTheContentStage) {
  expectRuleError(
      "[[rule]]\nid = \"x\"\nstage = \"urls\"\naction = \"tag\"\nurl = 'x'\nheader = \"To\"\n", 6,
      1, "'header' does not apply to stage 'urls'");
}

TEST_F(RuleSetTest, RejectsDuplicateIdNamingTheFirst) {
  write("10-a.toml", "\n\n" + simpleRule("dup"));
  write("20-b.toml", simpleRule("other") + simpleRule("dup"));
  expectError(
      "20-b.toml", 7, 6,
      "id: duplicate rule id 'dup', first defined at " + (dir() / "10-a.toml").string() + ":4");
}

TEST_F(RuleSetTest, RejectsIdsDifferingOnlyInCase) {
  expectRuleError(simpleRule("Att-Exe") + simpleRule("att-exe"), 7, 6,
                  "id: duplicate rule id 'att-exe', first defined at " +
                      (dir() / "10-rules.toml").string() + ":2");
}

TEST_F(RuleSetTest, RejectsABadRegexWithItsOffset) {
  expectRuleError(std::string(kContractExample) + "[[rule]]\nid = \"y\"\nstage = \"urls\"\n" +
                      "action = \"tag\"\nurl = 'https?://(evil'\n",
                  12, 7,
                  "url: invalid regular expression at offset 14: missing closing parenthesis");
}

TEST_F(RuleSetTest, RejectsAnEmptyPattern) {
  expectRuleError("[[rule]]\nid = \"x\"\nstage = \"content\"\naction = \"tag\"\npattern = ''\n", 5,
                  11, "pattern: empty pattern (it would match everything)");
}

TEST_F(RuleSetTest, RejectsAPatternThatIsNotAString) {
  expectRuleError("[[rule]]\nid = \"x\"\nstage = \"content\"\naction = \"tag\"\npattern = 5\n", 5,
                  11, "pattern: expected a string");
}

TEST_F(RuleSetTest, RejectsAMissingList) {
  expectRuleError(
      "[[rule]]\nid = \"x\"\nstage = \"urls\"\naction = \"tag\"\nhost_list = \"phishing\"\n", 5, 13,
      "host_list: list 'phishing' not found: " + (dir() / "lists" / "phishing.txt").string() +
          " does not exist");
}

TEST_F(RuleSetTest, RejectsAListNameThatCouldLeaveTheListsFolder) {
  expectRuleError(
      "[[rule]]\nid = \"x\"\nstage = \"urls\"\naction = \"tag\"\nhost_list = \"../pipeline\"\n", 5,
      13, "host_list: '../pipeline' is not a list name (A-Z a-z 0-9 . _ -)");
}

TEST_F(RuleSetTest, ReportsAnInvalidListEntryInTheListFile) {
  write("lists/bad.txt", "ok.test\nnot a host\n");
  write("10-a.toml",
        "[[rule]]\nid = \"x\"\nstage = \"urls\"\naction = \"tag\"\nhost_list = \"bad\"\n");
  expectError("lists/bad.txt", 2, 4, "one host name per line");
}

TEST_F(RuleSetTest, RejectsHeaderWithoutPattern) {
  expectRuleError(
      "[[rule]]\nid = \"x\"\nstage = \"content\"\naction = \"tag\"\nsender = 'x'\n"
      "header = \"Subject\"\n",
      6, 1, "'header' needs a 'pattern' to match the header's value against");
}

TEST_F(RuleSetTest, RejectsAnInvalidHeaderName) {
  expectRuleError(simpleRule("x") + "header = \"Subject:\"\n", 6, 10,
                  "header: 'Subject:' is not a header field name");
}

TEST_F(RuleSetTest, RejectsARuleWithoutCondition) {
  expectRuleError(
      simpleRule("ok") + "\n[[rule]]\nid = \"empty\"\nstage = \"urls\"\naction = \"tag\"\n", 7, 1,
      "rule 'empty' has no condition");
}

TEST_F(RuleSetTest, RejectsAnIdWithCharactersUnfitForHeaders) {
  expectRuleError(simpleRule("bad id"), 2, 6,
                  "id: 'bad id' must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
}

TEST_F(RuleSetTest, RejectsAnEmptyId) {
  expectRuleError(simpleRule(""), 2, 6, "id: '' must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
}

TEST_F(RuleSetTest, AcceptsA64CharacterIdAndRejects65) {
  write("10-rules.toml", simpleRule(std::string(64, 'a')));
  EXPECT_EQ(loadError(), "");
  const std::string long_id(65, 'a');
  expectRuleError(simpleRule(long_id), 2, 6,
                  "id: '" + long_id + "' must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
}

}  // namespace
}  // namespace relayguard::rules
