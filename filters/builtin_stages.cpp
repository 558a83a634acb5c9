// builtin_stages: the one list of every stage type this build has. A new stage is a folder
// under filters/ plus one line here; nothing in the SMTP code changes.
#include "filters/antivirus/antivirus_stage.hpp"
#include "filters/attachments/attachments_stage.hpp"
#include "filters/content/content_stage.hpp"
#include "filters/dkim/dkim_stage.hpp"
#include "filters/registry.hpp"
#include "filters/spf/spf_stage.hpp"
#include "filters/urls/urls_stage.hpp"

namespace relayguard::filters {

void registerBuiltinStages(StageRegistry& registry) {
  registry.add("antivirus", &AntivirusStage::create);
  registry.add("attachments", &AttachmentsStage::create);
  registry.add("urls", &UrlsStage::create);
  registry.add("content", &ContentStage::create);
  registry.add("spf", &SpfStage::create);
  registry.add("dkim", &DkimStage::create);
}

}  // namespace relayguard::filters
