// registry: stage type lookup (see registry.hpp).
#include "filters/registry.hpp"

#include <stdexcept>

namespace relayguard::filters {

void StageRegistry::add(std::string type, StageFactory factory) {
  if (!factories_.emplace(type, std::move(factory)).second) {
    throw std::logic_error("stage type registered twice: " + type);
  }
}

std::unique_ptr<Stage> StageRegistry::create(StageConfig& config,
                                             const SourcePosition& where) const {
  const auto it = factories_.find(config.type);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& n : names()) {
      known += (known.empty() ? "" : ", ") + n;
    }
    throw ConfigError(where, "unknown stage type '" + config.type + "' (known: " + known + ")");
  }
  return it->second(config);
}

std::vector<std::string> StageRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, f] : factories_) {
    out.push_back(name);
  }
  return out;
}

}  // namespace relayguard::filters
