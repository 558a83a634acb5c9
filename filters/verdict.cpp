// verdict: pipeline outcome helpers (see verdict.hpp).
#include "filters/verdict.hpp"

#include <nlohmann/json.hpp>

namespace relayguard::filters {

std::string_view toString(Action a) {
  switch (a) {
    case Action::kAccept:
      return "accept";
    case Action::kTag:
      return "tag";
    case Action::kQuarantine:
      return "quarantine";
    case Action::kTempfail:
      return "tempfail";
    case Action::kReject:
      return "reject";
  }
  return "accept";
}

Action strongest(Action a, Action b) {
  return static_cast<int>(a) >= static_cast<int>(b) ? a : b;
}

const Finding* Verdict::decisive() const {
  for (const auto& s : stages) {
    for (const auto& f : s.findings) {
      if (f.action == action) {
        return &f;
      }
    }
  }
  return nullptr;
}

std::string Verdict::headerBlock() const {
  std::string out;
  for (const auto& h : add_headers) {
    out += h.name + ": " + h.value + "\r\n";
  }
  return out;
}

nlohmann::json Verdict::stagesJson() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : stages) {
    if (s.findings.empty()) {
      nlohmann::json j = {{"stage", s.stage}, {"result", toString(s.action)}};
      if (!s.error.empty()) {
        j["detail"] = s.error;
      }
      out.push_back(std::move(j));
      continue;
    }
    for (const auto& f : s.findings) {
      nlohmann::json j = {{"stage", s.stage}, {"result", toString(f.action)}};
      if (!f.rule.empty()) {
        j["rule"] = f.rule;
      }
      if (!f.detail.empty()) {
        j["detail"] = f.detail;
      }
      out.push_back(std::move(j));
    }
  }
  return out;
}

}  // namespace relayguard::filters
