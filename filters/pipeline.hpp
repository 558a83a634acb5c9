// pipeline: the ordered filter stages of rules/pipeline.toml and the rules they use.
//
// load() builds everything from the rules directory and throws ConfigError (file:line:col) on
// the first problem, so a broken directory is refused as a whole. A Pipeline is immutable and
// held through shared_ptr<const Pipeline>: a SIGHUP reload builds a new one and swaps the
// pointer, and messages in flight finish on the one they started with.
//
// run() executes the stages in order on one message. Each stage's result goes into the verdict;
// the verdict's action is the strongest (reject > tempfail > quarantine > tag > accept), and a
// reject ends the run early. A stage that throws gets its on_error action (tempfail by default:
// fail closed), recorded with the error text. Outbound stages (Phase::kOutbound, e.g. dkim) must
// come after every verdict stage in pipeline.toml; run() skips them when the verdict so far is
// stronger than tag (a rejected or quarantined message is not signed), and runOutbound() runs
// only them, for a message released from quarantine. Consecutive blocking stages (BlockingStage:
// antivirus, rules, dkim) run together in one trip to the blocking pool.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "filters/registry.hpp"
#include "filters/verdict.hpp"

namespace relayguard::filters {

class Pipeline {
 public:
  static std::shared_ptr<const Pipeline> load(const std::filesystem::path& rules_dir,
                                              const StageRegistry& registry);
  // The built-in registry (registerBuiltinStages).
  static std::shared_ptr<const Pipeline> load(const std::filesystem::path& rules_dir);

  asio::awaitable<Verdict> run(const MessageView& message, StageContext& ctx) const;
  asio::awaitable<Verdict> runOutbound(const MessageView& message, StageContext& ctx) const;

  std::vector<std::string> stageNames() const;
  const rules::RuleSet& rules() const { return *rules_; }
  // Things worth telling the operator that are not errors (rules for a stage not in the
  // pipeline, for example).
  const std::vector<std::string>& warnings() const { return warnings_; }
  // The stage of class T (e.g. DkimStage) if the pipeline runs one, for tools that read the
  // stages' settings without running them (`relayguard doctor`).
  template <class T>
  const T* find() const {
    for (const auto& e : stages_) {
      if (const auto* s = dynamic_cast<const T*>(e.stage.get())) {
        return s;
      }
    }
    return nullptr;
  }

 private:
  struct Entry {
    std::unique_ptr<Stage> stage;
    Action on_error = Action::kTempfail;
  };
  asio::awaitable<Verdict> runStages(const MessageView& message, StageContext& ctx,
                                     bool outbound_only) const;
  bool runBlockingStages(std::size_t first, std::size_t end, const MessageView& message,
                         StageContext& ctx, bool outbound_only, Verdict& verdict) const;
  static bool settle(const Entry& entry, std::optional<StageResult> result,
                     const std::string& error, std::chrono::steady_clock::time_point started,
                     StageContext& ctx, Verdict& verdict);
  std::vector<Entry> stages_;
  std::shared_ptr<const rules::RuleSet> rules_;
  std::vector<std::string> warnings_;
};

}  // namespace relayguard::filters
