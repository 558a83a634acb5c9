// urls_stage: URL rules (see urls_stage.hpp).
#include "filters/urls/urls_stage.hpp"

namespace relayguard::filters {

UrlsStage::UrlsStage(std::shared_ptr<const rules::RuleSet> rules)
    : RuleStage("urls", std::move(rules)) {}

std::unique_ptr<Stage> UrlsStage::create(StageConfig& config) {
  return std::make_unique<UrlsStage>(config.rules);
}

std::optional<std::string> UrlsStage::match(const rules::Rule& rule,
                                            const MessageView& message) const {
  for (const auto& url : message.mime().urls()) {
    if (rule.host_list && !rule.host_list->containsHostOrParent(urlHost(url))) {
      continue;
    }
    if (!conditionHolds(rule.url, url, "a URL")) {
      continue;
    }
    return "url=" + clip(url);
  }
  return std::nullopt;
}

}  // namespace relayguard::filters
