// attachments_stage: attachment rules (see attachments_stage.hpp).
#include "filters/attachments/attachments_stage.hpp"

namespace relayguard::filters {

AttachmentsStage::AttachmentsStage(std::shared_ptr<const rules::RuleSet> rules)
    : RuleStage("attachments", std::move(rules)) {}

std::unique_ptr<Stage> AttachmentsStage::create(StageConfig& config) {
  return std::make_unique<AttachmentsStage>(config.rules);
}

std::vector<Finding> AttachmentsStage::ownFindings(const MessageView& message) const {
  std::vector<Finding> out;
  for (const auto& problem : message.mime().problems()) {
    out.push_back(Finding{"attachments", "", problem, Action::kTag});
  }
  return out;
}

std::optional<std::string> AttachmentsStage::match(const rules::Rule& rule,
                                                   const MessageView& message) const {
  const auto& problems = message.mime().problems();
  if (rule.mime_problem) {
    bool any = false;
    for (const auto& p : problems) {
      any = any || regexMatches(*rule.mime_problem, p, "a MIME problem");
    }
    if (!any) {
      return std::nullopt;
    }
    if (!rule.filename && !rule.content_type && !rule.detected_type) {
      return "mime problem";
    }
  }
  for (const auto& part : message.mime().parts()) {
    std::string detail;
    if (rule.filename) {
      const std::string* hit = nullptr;
      for (const auto& name : part.filenames) {
        if (regexMatches(*rule.filename, name, "a file name")) {
          hit = &name;
          break;
        }
      }
      for (std::size_t i = 0; hit == nullptr && i < part.archive_entries.size(); ++i) {
        if (regexMatches(*rule.filename, part.archive_entries[i], "an archive entry")) {
          hit = &part.archive_entries[i];
        }
      }
      if (hit == nullptr) {
        continue;
      }
      detail = "filename=" + clip(*hit, 120);
    }
    if (!conditionHolds(rule.content_type, part.content_type, "a content type")) {
      continue;
    }
    if (!conditionHolds(rule.detected_type, part.detected_type, "a detected type")) {
      continue;
    }
    const std::string types = "type=" + part.content_type + " detected=" + part.detected_type;
    return detail.empty() ? types : detail + " " + types;
  }
  return std::nullopt;
}

}  // namespace relayguard::filters
