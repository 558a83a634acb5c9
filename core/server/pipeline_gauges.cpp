// pipeline_gauges: gauges computed from the pipeline in force (see pipeline_gauges.hpp).
#include "core/server/pipeline_gauges.hpp"

#include "filters/antivirus/antivirus_stage.hpp"

namespace relayguard {
namespace {

double unixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

void registerPipelineGauges(metrics::Registry& registry, const PipelineSlot& pipeline) {
  registry.callbackGauge("relayguard_rules_loaded", "Rules in the rules directory in force",
                         [&pipeline]() -> std::optional<double> {
                           const auto p = pipeline.load();
                           return p ? std::optional<double>(p->rules().rules().size())
                                    : std::nullopt;
                         });
  // The antivirus stage of the pipeline in force, kept alive while it is read.
  auto antivirus = [&pipeline]()
      -> std::pair<std::shared_ptr<const filters::Pipeline>, const filters::AntivirusStage*> {
    auto p = pipeline.load();
    const auto* av = p ? p->find<filters::AntivirusStage>() : nullptr;
    return {std::move(p), av};
  };
  registry.callbackGauge("relayguard_antivirus_signatures",
                         "ClamAV signatures loaded (absent without an antivirus stage)",
                         [antivirus]() -> std::optional<double> {
                           const auto [p, av] = antivirus();
                           return av ? std::optional<double>(av->signatures()) : std::nullopt;
                         });
  registry.callbackGauge(
      "relayguard_antivirus_database_timestamp_seconds",
      "When the ClamAV signatures in force were built (Unix time; plain signature files: their "
      "newest modification time)",
      [antivirus]() -> std::optional<double> {
        const auto [p, av] = antivirus();
        return av ? std::optional<double>(unixSeconds(av->databaseTime())) : std::nullopt;
      });
  registry.callbackGauge(
      "relayguard_antivirus_database_age_seconds",
      "Age of the ClamAV signatures in force (alert when freshclam stops updating them)",
      [antivirus]() -> std::optional<double> {
        const auto [p, av] = antivirus();
        if (!av) {
          return std::nullopt;
        }
        return unixSeconds(std::chrono::system_clock::now()) - unixSeconds(av->databaseTime());
      });
}

}  // namespace relayguard
