// content_stage: the `content` stage: a `pattern` over the decoded value of a named header
// (`header`), or over the decoded text of every text part when no header is named.
#pragma once

#include "filters/registry.hpp"
#include "filters/rule_stage.hpp"

namespace relayguard::filters {

class ContentStage : public RuleStage {
 public:
  explicit ContentStage(std::shared_ptr<const rules::RuleSet> rules);
  static std::unique_ptr<Stage> create(StageConfig& config);

 protected:
  std::optional<std::string> match(const rules::Rule& rule,
                                   const MessageView& message) const override;
};

}  // namespace relayguard::filters
