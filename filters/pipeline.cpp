// pipeline: building and running the filter stages (see pipeline.hpp).
#include "filters/pipeline.hpp"

#include <set>

#include "core/util/log_event.hpp"

namespace relayguard::filters {

std::shared_ptr<const Pipeline> Pipeline::load(const std::filesystem::path& rules_dir,
                                               const StageRegistry& registry) {
  auto pipeline = std::make_shared<Pipeline>();
  pipeline->rules_ = std::make_shared<const rules::RuleSet>(rules::RuleSet::load(rules_dir));
  const auto file = rules_dir / "pipeline.toml";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    throw ConfigError(SourcePosition{file},
                      "missing: the rules directory needs a pipeline.toml "
                      "(an empty one is a valid, empty pipeline)");
  }
  const toml::table root = parseTomlFile(file);
  TomlReader top(root, file);
  std::set<std::string> types;
  for (const toml::table* t : top.tableArray("stage")) {
    TomlReader reader(*t, file);
    const SourcePosition where = reader.position();
    StageConfig config{reader.requiredString("type"), reader, rules_dir, pipeline->rules_};
    const auto on_error = reader.choice("on_error", {"tempfail", "quarantine", "accept"});
    Entry entry;
    entry.on_error = !on_error || *on_error == "tempfail" ? Action::kTempfail
                     : *on_error == "quarantine"          ? Action::kQuarantine
                                                          : Action::kAccept;
    entry.stage = registry.create(config, reader.keyPosition("type"));
    reader.finish();
    if (!types.insert(config.type).second) {
      throw ConfigError(where, "stage '" + config.type + "' is listed twice");
    }
    if (entry.stage->phase() == Phase::kVerdict && !pipeline->stages_.empty() &&
        pipeline->stages_.back().stage->phase() == Phase::kOutbound) {
      throw ConfigError(where, "stage '" + config.type + "' must come before stage '" +
                                   std::string(pipeline->stages_.back().stage->name()) +
                                   "', which prepares accepted mail for delivery and so runs "
                                   "after every filter stage");
    }
    pipeline->stages_.push_back(std::move(entry));
  }
  top.finish();
  for (const auto& rule : pipeline->rules_->rules()) {
    if (types.count(rule.stage) == 0) {
      pipeline->warnings_.push_back(rule.where.str() + ": rule '" + rule.id + "' is for stage '" +
                                    rule.stage + "', which pipeline.toml does not run");
    }
  }
  return pipeline;
}

std::shared_ptr<const Pipeline> Pipeline::load(const std::filesystem::path& rules_dir) {
  static const StageRegistry registry = [] {
    StageRegistry r;
    registerBuiltinStages(r);
    return r;
  }();
  return load(rules_dir, registry);
}

std::vector<std::string> Pipeline::stageNames() const {
  std::vector<std::string> out;
  for (const auto& e : stages_) {
    out.emplace_back(e.stage->name());
  }
  return out;
}

asio::awaitable<Verdict> Pipeline::run(const MessageView& message, StageContext& ctx) const {
  return runStages(message, ctx, false);
}

asio::awaitable<Verdict> Pipeline::runOutbound(const MessageView& message,
                                               StageContext& ctx) const {
  return runStages(message, ctx, true);
}

asio::awaitable<Verdict> Pipeline::runStages(const MessageView& message, StageContext& ctx,
                                             bool outbound_only) const {
  Verdict verdict;
  for (const auto& entry : stages_) {
    const bool outbound = entry.stage->phase() == Phase::kOutbound;
    if (outbound_only && !outbound) {
      continue;
    }
    if (outbound && verdict.action > Action::kTag) {
      break;  // outbound stages come last; mail that will not be delivered is not signed
    }
    StageOutcome outcome;
    outcome.stage = std::string(entry.stage->name());
    const auto started = std::chrono::steady_clock::now();
    try {
      StageResult result = co_await entry.stage->run(message, ctx);
      outcome.action = result.action;
      outcome.findings = std::move(result.findings);
      for (auto& h : result.add_headers) {
        verdict.add_headers.push_back(std::move(h));
      }
    } catch (const std::exception& e) {
      outcome.action = entry.on_error;
      outcome.error = e.what();
      outcome.findings.push_back(
          Finding{outcome.stage, "", std::string("stage error: ") + e.what(), entry.on_error});
      log::error(
          "stage_failed",
          {{"stage", outcome.stage}, {"error", e.what()}, {"on_error", toString(entry.on_error)}});
    }
    if (ctx.observer != nullptr) {
      ctx.observer->stageDone(outcome.stage, std::chrono::steady_clock::now() - started);
    }
    verdict.action = strongest(verdict.action, outcome.action);
    verdict.stages.push_back(std::move(outcome));
    if (verdict.action == Action::kReject) {
      break;  // nothing can make the verdict stronger; later stages would only cost time
    }
  }
  co_return verdict;
}

}  // namespace relayguard::filters
