// urls_stage: the `urls` stage: rules over every URL found in the message's text and HTML parts
// (a `url` pattern and/or a `host_list`, both holding for the same URL; a listed domain also
// matches its subdomains).
#pragma once

#include "filters/registry.hpp"
#include "filters/rule_stage.hpp"

namespace relayguard::filters {

class UrlsStage : public RuleStage {
 public:
  explicit UrlsStage(std::shared_ptr<const rules::RuleSet> rules);
  static std::unique_ptr<Stage> create(StageConfig& config);

 protected:
  std::optional<std::string> match(const rules::Rule& rule,
                                   const MessageView& message) const override;
};

}  // namespace relayguard::filters
