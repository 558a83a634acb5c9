// content_stage: header and text rules (see content_stage.hpp).
#include "filters/content/content_stage.hpp"

namespace relayguard::filters {

ContentStage::ContentStage(std::shared_ptr<const rules::RuleSet> rules)
    : RuleStage("content", std::move(rules)) {}

std::unique_ptr<Stage> ContentStage::create(StageConfig& config) {
  return std::make_unique<ContentStage>(config.rules);
}

std::optional<std::string> ContentStage::match(const rules::Rule& rule,
                                               const MessageView& message) const {
  if (!rule.pattern) {
    return "envelope";  // only sender/recipient scoping: it applies to the whole message
  }
  if (!rule.header.empty()) {
    for (const auto& value : message.mime().headerValues(rule.header)) {
      if (regexMatches(*rule.pattern, value, "header " + rule.header)) {
        return rule.header + ": " + clip(value, 120);
      }
    }
    return std::nullopt;
  }
  std::size_t index = 0;
  for (const auto& part : message.mime().parts()) {
    ++index;
    if (part.is_text && regexMatches(*rule.pattern, part.body, "a text part")) {
      return "text part " + std::to_string(index) + " (" + part.content_type + ")";
    }
  }
  return std::nullopt;
}

}  // namespace relayguard::filters
