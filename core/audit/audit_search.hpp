// audit_search: the questions auditors ask of the audit log: "what happened to this message"
// (queue id or Message-ID), "everything rule X did last month" (rule and a time range), by
// sender, recipient or verdict. A query matches a line when every filter it sets holds.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace relayguard {

struct AuditQuery {
  std::string since;  // RFC 3339 UTC, inclusive; empty: no lower bound
  std::string until;  // RFC 3339 UTC, exclusive; empty: no upper bound
  std::string sender;
  std::string recipient;
  std::string verdict;  // verdict lines' verdict, or delivery lines' result
  std::string rule;     // a rule id or a virus name in the line's stages or reasons
  std::string queue_id;
  std::string message_id;  // with or without <>

  bool matches(const nlohmann::json& line) const;
};

// Calls fn(raw line, parsed line) for every matching line, in log order. Anchors never match.
// Throws std::runtime_error naming file:line for a line that is not JSON.
void searchAuditLog(const std::filesystem::path& dir, const AuditQuery& query,
                    const std::function<void(const std::string&, const nlohmann::json&)>& fn);

}  // namespace relayguard
