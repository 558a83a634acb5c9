// rule_set: the rules directory as the filter stages see it: every [[rule]] of every *.toml
// file except pipeline.toml (loaded in file-name order), and the lists under lists/NAME.txt.
//
// load() validates everything before anything is used and throws ConfigError at the exact
// file:line:col for: TOML syntax, unknown keys, a missing id/stage/action, unknown stages or
// actions, a key that does not apply to the rule's stage, duplicate ids (naming the first one),
// bad regexes (with the offset in the pattern), a rule with no condition, a missing list.
// The result is immutable and shared by every message using this generation of rules.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/config/config_error.hpp"
#include "rules/regex.hpp"

namespace relayguard::rules {

enum class RuleAction { kAllow, kTag, kQuarantine, kReject };

std::string_view toString(RuleAction a);

// lists/NAME.txt: one host per line, '#' comments; matching checks the host and every parent.
class HostList {
 public:
  static HostList load(const std::filesystem::path& file);  // throws ConfigError
  // True when host or one of its parent domains is listed ("evil.example.net" matches a listed
  // "example.net"). Case-insensitive; a trailing dot is ignored.
  bool containsHostOrParent(std::string_view host) const;
  std::size_t size() const { return hosts_.size(); }

 private:
  std::set<std::string, std::less<>> hosts_;
};

struct Rule {
  std::string id;
  std::string stage;  // attachments | urls | content
  std::string description;
  RuleAction action = RuleAction::kTag;
  SourcePosition where;  // the [[rule]] table
  // Conditions; every one present must match.
  std::optional<Regex> filename;              // attachments
  std::optional<Regex> content_type;          // attachments
  std::optional<Regex> detected_type;         // attachments
  std::optional<Regex> mime_problem;          // attachments: any MIME problem code of the message
  std::optional<Regex> url;                   // urls
  std::shared_ptr<const HostList> host_list;  // urls
  std::string host_list_name;
  std::string header;              // content: header name for `pattern`
  std::optional<Regex> pattern;    // content
  std::optional<Regex> sender;     // any stage: envelope sender
  std::optional<Regex> recipient;  // any stage: any envelope recipient
};

class RuleSet {
 public:
  static RuleSet load(const std::filesystem::path& rules_dir);  // throws ConfigError
  // Rules of one stage in load order.
  std::vector<const Rule*> forStage(std::string_view stage) const;
  const std::vector<Rule>& rules() const { return rules_; }
  const std::map<std::string, std::shared_ptr<const HostList>>& lists() const { return lists_; }

 private:
  std::vector<Rule> rules_;
  std::map<std::string, std::shared_ptr<const HostList>> lists_;
};

}  // namespace relayguard::rules
