// attachments_stage: the `attachments` stage: rules over every MIME part's decoded file names
// (and the names of files inside archives), declared type and sniffed type. All conditions of a
// rule must hold for the same part. The stage also reports every MIME problem (limits hit,
// malformed encodings, encrypted archives) as a finding of its own, tagged by default, which
// rules can escalate.
#pragma once

#include "filters/registry.hpp"
#include "filters/rule_stage.hpp"

namespace relayguard::filters {

class AttachmentsStage : public RuleStage {
 public:
  explicit AttachmentsStage(std::shared_ptr<const rules::RuleSet> rules);
  static std::unique_ptr<Stage> create(StageConfig& config);

 protected:
  std::optional<std::string> match(const rules::Rule& rule,
                                   const MessageView& message) const override;
  std::vector<Finding> ownFindings(const MessageView& message) const override;
};

}  // namespace relayguard::filters
