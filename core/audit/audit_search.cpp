// audit_search: filtering the audit log (see audit_search.hpp).
#include "core/audit/audit_search.hpp"

#include <algorithm>
#include <stdexcept>

#include "core/util/durable_file.hpp"
#include "core/util/strings.hpp"

namespace relayguard {
namespace {

std::string str(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool anyRecipient(const nlohmann::json& line, const std::string& want) {
  if (iequals(str(line, "rcpt"), want)) {
    return true;
  }
  const auto it = line.find("rcpt_to");
  if (it == line.end() || !it->is_array()) {
    return false;
  }
  return std::any_of(it->begin(), it->end(), [&want](const nlohmann::json& r) {
    return r.is_string() && iequals(r.get<std::string>(), want);
  });
}

bool mentionsRule(const nlohmann::json& line, const std::string& rule) {
  const auto reasons = line.find("reasons");
  if (reasons != line.end() && reasons->is_array()) {
    for (const auto& r : *reasons) {
      if (r.is_string() && r.get<std::string>() == rule) {
        return true;
      }
    }
  }
  const auto stages = line.find("stages");
  if (stages != line.end() && stages->is_array()) {
    for (const auto& s : *stages) {
      if (s.is_object() && (str(s, "rule") == rule || str(s, "detail") == rule)) {
        return true;
      }
    }
  }
  return false;
}

std::string bare(std::string id) {
  if (id.size() >= 2 && id.front() == '<' && id.back() == '>') {
    id = id.substr(1, id.size() - 2);
  }
  return id;
}

}  // namespace

bool AuditQuery::matches(const nlohmann::json& line) const {
  if (!line.is_object() || str(line, "event") == "anchor") {
    return false;
  }
  const std::string time = str(line, "time");
  if ((!since.empty() && time < since) || (!until.empty() && time >= until)) {
    return false;
  }
  if (!sender.empty() && !iequals(str(line, "mail_from"), sender)) {
    return false;
  }
  if (!recipient.empty() && !anyRecipient(line, recipient)) {
    return false;
  }
  if (!verdict.empty() && str(line, "verdict") != verdict && str(line, "result") != verdict) {
    return false;
  }
  if (!rule.empty() && !mentionsRule(line, rule)) {
    return false;
  }
  if (!queue_id.empty() && str(line, "queue_id") != queue_id &&
      str(line, "dsn_queue_id") != queue_id) {
    return false;
  }
  if (!message_id.empty() && bare(str(line, "message_id")) != bare(message_id)) {
    return false;
  }
  return true;
}

void searchAuditLog(const std::filesystem::path& dir, const AuditQuery& query,
                    const std::function<void(const std::string&, const nlohmann::json&)>& fn) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const auto name = e.path().filename().string();
    if (name.starts_with("audit-") && name.ends_with(".jsonl")) {
      files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    const std::string content = readFile(file);
    std::size_t pos = 0;
    std::size_t number = 0;
    while (pos < content.size()) {
      ++number;
      auto eol = content.find('\n', pos);
      if (eol == std::string::npos) {
        eol = content.size();
      }
      const std::string line = content.substr(pos, eol - pos);
      pos = eol + 1;
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded()) {
        throw std::runtime_error(file.string() + ":" + std::to_string(number) +
                                 ": not a JSON line");
      }
      if (query.matches(j)) {
        fn(line, j);
      }
    }
  }
}

}  // namespace relayguard
