// rule_stage: rule evaluation shared by the rule-driven stages (see rule_stage.hpp).
#include "filters/rule_stage.hpp"

#include <stdexcept>

namespace relayguard::filters {
namespace {

Action actionOf(rules::RuleAction a) {
  switch (a) {
    case rules::RuleAction::kAllow:
      return Action::kAccept;
    case rules::RuleAction::kTag:
      return Action::kTag;
    case rules::RuleAction::kQuarantine:
      return Action::kQuarantine;
    case rules::RuleAction::kReject:
      return Action::kReject;
  }
  return Action::kAccept;
}

}  // namespace

bool regexMatches(const rules::Regex& pattern, std::string_view subject, std::string_view what) {
  switch (pattern.match(subject)) {
    case rules::Regex::Result::kMatch:
      return true;
    case rules::Regex::Result::kNoMatch:
      return false;
    case rules::Regex::Result::kError:
      break;
  }
  throw std::runtime_error("pattern '" + clip(pattern.pattern(), 80) + "' hit its match limit on " +
                           std::string(what));
}

bool conditionHolds(const std::optional<rules::Regex>& pattern, std::string_view subject,
                    std::string_view what) {
  return !pattern || regexMatches(*pattern, subject, what);
}

std::string clip(std::string_view s, std::size_t max) {
  if (s.size() <= max) {
    return std::string(s);
  }
  return std::string(s.substr(0, max)) + "...";
}

RuleStage::RuleStage(std::string name, std::shared_ptr<const rules::RuleSet> rules)
    : name_(std::move(name)), rules_(std::move(rules)), stage_rules_(rules_->forStage(name_)) {}

std::vector<Finding> RuleStage::ownFindings(const MessageView&) const {
  return {};
}

bool RuleStage::inScope(const rules::Rule& rule, const Envelope& envelope) const {
  if (!conditionHolds(rule.sender, envelope.mail_from.str(), "the envelope sender")) {
    return false;
  }
  if (!rule.recipient) {
    return true;
  }
  for (const auto& r : envelope.rcpt_to) {
    if (regexMatches(*rule.recipient, r.str(), "a recipient")) {
      return true;
    }
  }
  return false;
}

StageResult RuleStage::evaluate(const MessageView& message) const {
  StageResult result;
  result.findings = ownFindings(message);
  const std::size_t own = result.findings.size();
  const Finding* allow = nullptr;
  for (const rules::Rule* rule : stage_rules_) {
    if (!inScope(*rule, message.envelope())) {
      continue;
    }
    auto detail = match(*rule, message);
    if (!detail) {
      continue;
    }
    result.findings.push_back(Finding{name_, rule->id, std::move(*detail), actionOf(rule->action)});
    if (rule->action == rules::RuleAction::kAllow && allow == nullptr) {
      allow = &result.findings.back();
    }
  }
  std::string allow_id = allow != nullptr ? allow->rule : std::string();
  for (std::size_t i = own; i < result.findings.size(); ++i) {
    auto& f = result.findings[i];
    if (!allow_id.empty() && f.action != Action::kAccept) {
      f.detail = "cancelled by allow rule " + allow_id + ": " + f.detail;
      f.action = Action::kAccept;
    }
  }
  for (const auto& f : result.findings) {
    result.action = strongest(result.action, f.action);
    if (f.action == Action::kTag) {
      result.add_headers.push_back(
          HeaderField{"X-Relayguard-Tag", f.rule.empty() ? clip(f.detail, 64) : f.rule});
    }
  }
  return result;
}

StageResult RuleStage::evaluate(const MessageView& message, StageContext& /*ctx*/) const {
  return evaluate(message);
}

}  // namespace relayguard::filters
