// registry: stage types by name. registerBuiltinStages() (builtin_stages.cpp) is the one place
// that lists every stage; adding a stage is a new folder under filters/ plus one line there.
// A factory reads its [[stage]] table through the TomlReader (so unknown keys are refused with
// file:line:col), validates everything, and throws ConfigError on the first problem: a bad
// stage never reaches the data path.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config/toml_reader.hpp"
#include "filters/stage.hpp"
#include "rules/rule_set.hpp"

namespace relayguard::filters {

struct StageConfig {
  std::string type;
  TomlReader& table;  // this [[stage]] table; `type` and `on_error` are already read
  std::filesystem::path rules_dir;
  std::shared_ptr<const rules::RuleSet> rules;
};

using StageFactory = std::function<std::unique_ptr<Stage>(StageConfig& config)>;

class StageRegistry {
 public:
  // Throws std::logic_error on a duplicate name (a programming error).
  void add(std::string type, StageFactory factory);
  // Throws ConfigError for an unknown type, naming the known ones.
  std::unique_ptr<Stage> create(StageConfig& config, const SourcePosition& where) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, StageFactory> factories_;
};

void registerBuiltinStages(StageRegistry& registry);

}  // namespace relayguard::filters
