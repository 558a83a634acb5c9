// rule_set: loading and validating the rules directory (see rule_set.hpp).
//
// Every *.toml file of the top directory except pipeline.toml (read by the pipeline) holds
// [[rule]] tables only. Each rule is checked key by key through TomlReader, so every mistake is
// a ConfigError at its own file:line:col: errors about a value point at the value, errors about
// a key being there at all (unknown, wrong stage, `header` without `pattern`) point at the key,
// and errors about the rule as a whole (missing key, no condition) at its [[rule]] line.
#include "rules/rule_set.hpp"

#include <algorithm>
#include <string_view>
#include <system_error>
#include <utility>

#include "core/config/toml_reader.hpp"
#include "core/util/strings.hpp"

namespace relayguard::rules {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kPipelineFile = "pipeline.toml";
constexpr std::size_t kMaxIdLength = 64;

const std::vector<std::string> kStages = {"attachments", "urls", "content"};
const std::vector<std::string> kActions = {"reject", "quarantine", "tag", "allow"};

struct ConditionKey {
  std::string_view key;
  std::string_view stage;             // empty: any stage
  std::optional<Regex> Rule::*regex;  // nullptr: host_list and header, which are not patterns
};

// Every condition key and the stage it belongs to, in the order they are read.
constexpr ConditionKey kConditionKeys[] = {
    {"filename", "attachments", &Rule::filename},
    {"content_type", "attachments", &Rule::content_type},
    {"detected_type", "attachments", &Rule::detected_type},
    {"mime_problem", "attachments", &Rule::mime_problem},
    {"url", "urls", &Rule::url},
    {"host_list", "urls", nullptr},
    {"header", "content", nullptr},
    {"pattern", "content", &Rule::pattern},
    {"sender", "", &Rule::sender},
    {"recipient", "", &Rule::recipient},
};

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool isName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), isNameChar);
}

// RFC 5322 field name: printable US-ASCII except ':'.
bool isHeaderName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 33 && u <= 126 && c != ':';
  });
}

RuleAction parseAction(std::string_view s) {
  if (s == "reject") {
    return RuleAction::kReject;
  }
  if (s == "quarantine") {
    return RuleAction::kQuarantine;
  }
  if (s == "allow") {
    return RuleAction::kAllow;
  }
  return RuleAction::kTag;
}

// The position of a key itself (not its value), as unknown-key errors report it.
SourcePosition keyNamePosition(const toml::table& table, const fs::path& file,
                               std::string_view key) {
  const auto it = table.find(key);
  if (it == table.end()) {
    return TomlReader(table, file).position();
  }
  const auto& src = it->first.source();
  return SourcePosition{file, src.begin.line, src.begin.column};
}

// The *.toml rule files of the directory, in file-name order. Hidden files (editor lock and
// swap files such as ".#10-foo.toml") and anything that is not a regular file are skipped.
std::vector<fs::path> ruleFiles(const fs::path& rules_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(rules_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name == kPipelineFile || name.starts_with(".") || it->path().extension() != ".toml") {
      continue;
    }
    std::error_code type_ec;
    if (it->is_regular_file(type_ec)) {
      names.push_back(name);
    }
  }
  if (ec) {
    throw ConfigError(SourcePosition{rules_dir},
                      "cannot read the rules directory: " + ec.message());
  }
  std::sort(names.begin(), names.end());
  std::vector<fs::path> files;
  files.reserve(names.size());
  for (const auto& name : names) {
    files.push_back(rules_dir / name);
  }
  return files;
}

class Loader {
 public:
  explicit Loader(fs::path rules_dir) : rules_dir_(std::move(rules_dir)) {}

  void loadFile(const fs::path& file, std::vector<Rule>& out);
  std::map<std::string, std::shared_ptr<const HostList>> takeLists() { return std::move(lists_); }

 private:
  Rule parseRule(const toml::table& table, const fs::path& file);
  void readId(TomlReader& r, Rule& rule);
  void readCondition(TomlReader& r, const toml::table& table, const ConditionKey& c, Rule& rule);
  std::optional<Regex> readRegex(TomlReader& r, std::string_view key);
  std::shared_ptr<const HostList> hostList(TomlReader& r, const std::string& name);

  fs::path rules_dir_;
  std::map<std::string, std::shared_ptr<const HostList>> lists_;
  std::map<std::string, SourcePosition> ids_;  // lower-case id -> where it was first defined
};

void Loader::loadFile(const fs::path& file, std::vector<Rule>& out) {
  const toml::table root = parseTomlFile(file);
  TomlReader top(root, file);
  const auto tables = top.tableArray("rule");
  top.finish();
  for (const toml::table* table : tables) {
    out.push_back(parseRule(*table, file));
  }
}

Rule Loader::parseRule(const toml::table& table, const fs::path& file) {
  TomlReader r(table, file);
  Rule rule;
  rule.where = r.position();
  readId(r, rule);

  const auto stage = r.choice("stage", kStages);
  if (!stage) {
    throw ConfigError(rule.where, "missing required key 'stage'");
  }
  rule.stage = *stage;
  rule.description = r.string("description").value_or("");
  const auto action = r.choice("action", kActions);
  if (!action) {
    throw ConfigError(rule.where, "missing required key 'action'");
  }
  rule.action = parseAction(*action);

  for (const ConditionKey& c : kConditionKeys) {
    if (r.has(c.key)) {
      readCondition(r, table, c, rule);
    }
  }
  // Unknown keys before "no condition": a misspelt condition is the likelier cause.
  r.finish();

  if (!rule.header.empty() && !rule.pattern) {
    throw ConfigError(keyNamePosition(table, file, "header"),
                      "'header' needs a 'pattern' to match the header's value against");
  }
  const bool any_condition = rule.filename || rule.content_type || rule.detected_type ||
                             rule.mime_problem || rule.url || rule.host_list || rule.pattern ||
                             rule.sender || rule.recipient;
  if (!any_condition) {
    throw ConfigError(rule.where, "rule '" + rule.id + "' has no condition");
  }
  return rule;
}

void Loader::readId(TomlReader& r, Rule& rule) {
  rule.id = r.requiredString("id");
  if (rule.id.size() > kMaxIdLength || !isName(rule.id)) {
    r.fail("id", "'" + rule.id + "' must be 1 to " + std::to_string(kMaxIdLength) +
                     " characters of A-Z a-z 0-9 . _ -");
  }
  // Ids end up in headers, SMTP replies and the audit log: ones differing only in case would
  // be indistinguishable to the people reading them.
  const SourcePosition here = r.keyPosition("id");
  const auto [it, inserted] = ids_.emplace(toLower(rule.id), here);
  if (!inserted) {
    r.fail("id", "duplicate rule id '" + rule.id + "', first defined at " +
                     it->second.file.string() + ":" + std::to_string(it->second.line));
  }
}

void Loader::readCondition(TomlReader& r, const toml::table& table, const ConditionKey& c,
                           Rule& rule) {
  if (!c.stage.empty() && c.stage != rule.stage) {
    throw ConfigError(keyNamePosition(table, r.file(), c.key),
                      "'" + std::string(c.key) + "' does not apply to stage '" + rule.stage + "'");
  }
  if (c.regex != nullptr) {
    rule.*c.regex = readRegex(r, c.key);
  } else if (c.key == "host_list") {
    rule.host_list_name = r.string(c.key).value_or("");
    rule.host_list = hostList(r, rule.host_list_name);
  } else {  // header
    rule.header = r.string(c.key).value_or("");
    if (!isHeaderName(rule.header)) {
      r.fail(c.key, "'" + rule.header + "' is not a header field name");
    }
  }
}

std::optional<Regex> Loader::readRegex(TomlReader& r, std::string_view key) {
  const std::string text = r.string(key).value_or("");
  if (text.empty()) {
    r.fail(key, "empty pattern (it would match everything)");
  }
  Regex::CompileError error;
  auto regex = Regex::compile(text, error);
  if (!regex) {
    r.fail(key, "invalid regular expression at offset " + std::to_string(error.offset) + ": " +
                    error.message);
  }
  return regex;
}

std::shared_ptr<const HostList> Loader::hostList(TomlReader& r, const std::string& name) {
  if (!isName(name)) {
    r.fail("host_list", "'" + name + "' is not a list name (A-Z a-z 0-9 . _ -)");
  }
  if (const auto it = lists_.find(name); it != lists_.end()) {
    return it->second;
  }
  const fs::path file = rules_dir_ / "lists" / (name + ".txt");
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    r.fail("host_list", "list '" + name + "' not found: " + file.string() + " does not exist");
  }
  auto list = std::make_shared<const HostList>(HostList::load(file));
  lists_.emplace(name, list);
  return list;
}

}  // namespace

std::string_view toString(RuleAction a) {
  switch (a) {
    case RuleAction::kAllow:
      return "allow";
    case RuleAction::kTag:
      return "tag";
    case RuleAction::kQuarantine:
      return "quarantine";
    case RuleAction::kReject:
      return "reject";
  }
  return "tag";
}

RuleSet RuleSet::load(const fs::path& rules_dir) {
  std::error_code ec;
  if (!fs::is_directory(rules_dir, ec)) {
    throw ConfigError(SourcePosition{rules_dir}, "the rules directory does not exist");
  }
  Loader loader(rules_dir);
  RuleSet set;
  for (const fs::path& file : ruleFiles(rules_dir)) {
    loader.loadFile(file, set.rules_);
  }
  set.lists_ = loader.takeLists();
  return set;
}

std::vector<const Rule*> RuleSet::forStage(std::string_view stage) const {
  std::vector<const Rule*> out;
  for (const Rule& rule : rules_) {
    if (rule.stage == stage) {
      out.push_back(&rule);
    }
  }
  return out;
}

}  // namespace relayguard::rules
