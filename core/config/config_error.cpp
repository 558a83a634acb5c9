// config_error: "file:line:col" rendering (see config_error.hpp).
#include "core/config/config_error.hpp"

namespace relayguard {

std::string SourcePosition::str() const {
  std::string out = file.string();
  if (line > 0) {
    out += ":" + std::to_string(line) + ":" + std::to_string(column > 0 ? column : 1);
  }
  return out;
}

}  // namespace relayguard
