// rule_stage: the common engine of the rule-driven stages (attachments, urls, content).
//
// For one message it walks the stage's rules in load order: a rule applies when its sender and
// recipient scopes match the envelope, and fires when the stage-specific match() says all of its
// conditions hold. Every fired rule is a finding with the rule's action; an `allow` rule cancels
// the other rule matches of the stage (they stay in the record, marked cancelled). `tag` adds
// one X-Relayguard-Tag header per rule. A pattern that hits its PCRE2 limit throws, so the
// pipeline applies on_error: a hostile message never passes because a rule blew up.
// The evaluation is CPU work and runs on the blocking pool.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "filters/stage.hpp"
#include "rules/rule_set.hpp"

namespace relayguard::filters {

// True when the pattern is absent or matches; throws std::runtime_error at a match limit.
bool conditionHolds(const std::optional<rules::Regex>& pattern, std::string_view subject,
                    std::string_view what);
// True when the pattern matches; throws at a match limit.
bool regexMatches(const rules::Regex& pattern, std::string_view subject, std::string_view what);
// Shortens a matched value for the audit record.
std::string clip(std::string_view s, std::size_t max = 200);

class RuleStage : public BlockingStage {
 public:
  RuleStage(std::string name, std::shared_ptr<const rules::RuleSet> rules);

  std::string_view name() const override { return name_; }
  StageResult evaluate(const MessageView& message, StageContext& ctx) const override;
  // The same, without a context (rules stages use none), for tests and `rules test`.
  StageResult evaluate(const MessageView& message) const;

 protected:
  // What matched (for the finding's detail), or nullopt when the rule's stage conditions do not
  // all hold for this message.
  virtual std::optional<std::string> match(const rules::Rule& rule,
                                           const MessageView& message) const = 0;
  // Findings the stage makes on its own, before any rule (attachments: MIME problems).
  virtual std::vector<Finding> ownFindings(const MessageView& message) const;

 private:
  bool inScope(const rules::Rule& rule, const Envelope& envelope) const;

  std::string name_;
  std::shared_ptr<const rules::RuleSet> rules_;
  std::vector<const rules::Rule*> stage_rules_;
};

}  // namespace relayguard::filters
