// pipeline: building and running the filter stages (see pipeline.hpp).
#include "filters/pipeline.hpp"

#include <optional>
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

namespace {

enum class Turn { kRun, kSkip, kStop };

// Whether a stage runs, given the verdict so far: outbound stages come last and run only for
// mail that will be delivered (accept or tag); runOutbound() runs nothing else.
Turn turnOf(const Stage& stage, const Verdict& verdict, bool outbound_only) {
  const bool outbound = stage.phase() == Phase::kOutbound;
  if (outbound_only && !outbound) {
    return Turn::kSkip;
  }
  if (outbound && verdict.action > Action::kTag) {
    return Turn::kStop;
  }
  return Turn::kRun;
}

}  // namespace

// What a finished stage adds to the verdict: its result, or (error non-empty) its on_error.
// False when no later stage may run: after a reject, nothing can make the verdict stronger and
// later stages would only cost time.
bool Pipeline::settle(const Entry& entry, std::optional<StageResult> result,
                      const std::string& error, std::chrono::steady_clock::time_point started,
                      StageContext& ctx, Verdict& verdict) {
  StageOutcome outcome;
  outcome.stage = std::string(entry.stage->name());
  if (result) {
    outcome.action = result->action;
    outcome.findings = std::move(result->findings);
    for (auto& h : result->add_headers) {
      verdict.add_headers.push_back(std::move(h));
    }
  } else {
    outcome.action = entry.on_error;
    outcome.error = error;
    outcome.findings.push_back(Finding{outcome.stage, "", "stage error: " + error, entry.on_error});
    log::error(
        "stage_failed",
        {{"stage", outcome.stage}, {"error", error}, {"on_error", toString(entry.on_error)}});
  }
  if (ctx.observer != nullptr) {
    ctx.observer->stageDone(outcome.stage, std::chrono::steady_clock::now() - started);
  }
  verdict.action = strongest(verdict.action, outcome.action);
  verdict.stages.push_back(std::move(outcome));
  return verdict.action != Action::kReject;
}

// Runs the blocking stages [first, end) in order on the calling (pool) thread. False: stop.
bool Pipeline::runBlockingStages(std::size_t first, std::size_t end, const MessageView& message,
                                 StageContext& ctx, bool outbound_only, Verdict& verdict) const {
  for (std::size_t i = first; i < end; ++i) {
    const Entry& entry = stages_[i];
    const Turn turn = turnOf(*entry.stage, verdict, outbound_only);
    if (turn == Turn::kStop) {
      return false;
    }
    if (turn == Turn::kSkip) {
      continue;
    }
    const auto started = std::chrono::steady_clock::now();
    std::optional<StageResult> result;
    std::string error;
    try {
      result = entry.stage->blocking()->evaluate(message, ctx);
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (!settle(entry, std::move(result), error, started, ctx, verdict)) {
      return false;
    }
  }
  return true;
}

asio::awaitable<Verdict> Pipeline::runStages(const MessageView& message, StageContext& ctx,
                                             bool outbound_only) const {
  Verdict verdict;
  std::size_t next = 0;
  while (next < stages_.size()) {
    const Entry& entry = stages_[next];
    const Turn turn = turnOf(*entry.stage, verdict, outbound_only);
    if (turn == Turn::kStop) {
      break;
    }
    if (turn == Turn::kSkip) {
      ++next;
      continue;
    }
    bool go_on = true;
    if (entry.stage->blocking() != nullptr) {
      // The run of blocking stages from here goes to the pool in one trip.
      std::size_t end = next + 1;
      while (end < stages_.size() && stages_[end].stage->blocking() != nullptr) {
        ++end;
      }
      go_on = co_await runBlocking(ctx.blocking, [&, next, end] {
        return runBlockingStages(next, end, message, ctx, outbound_only, verdict);
      });
      next = end;
    } else {
      const auto started = std::chrono::steady_clock::now();
      std::optional<StageResult> result;
      std::string error;
      try {
        result = co_await entry.stage->run(message, ctx);
      } catch (const std::exception& e) {
        error = e.what();
      }
      go_on = settle(entry, std::move(result), error, started, ctx, verdict);
      ++next;
    }
    if (!go_on) {
      break;
    }
  }
  co_return verdict;
}

}  // namespace relayguard::filters
