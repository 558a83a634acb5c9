// verdict_record: building the verdict record (see verdict_record.hpp).
#include "core/audit/verdict_record.hpp"

namespace relayguard {

nlohmann::json verdictReasons(const filters::Verdict& verdict) {
  nlohmann::json reasons = nlohmann::json::array();
  for (const auto& s : verdict.stages) {
    for (const auto& f : s.findings) {
      if (f.action == verdict.action && f.action != filters::Action::kAccept) {
        reasons.push_back(f.rule.empty() ? f.detail : f.rule);
      }
    }
  }
  return reasons;
}

nlohmann::json verdictRecord(const Envelope& envelope, const std::string& queue_id,
                             const std::string& message_id, const filters::Verdict& verdict,
                             SystemTime time) {
  nlohmann::json rcpts = nlohmann::json::array();
  for (const auto& r : envelope.rcpt_to) {
    rcpts.push_back(r.str());
  }
  return {{"time", rfc3339(time)},
          {"event", "verdict"},
          {"queue_id", queue_id},
          {"message_id", message_id},
          {"client_ip", envelope.client_ip},
          {"auth_user",
           envelope.auth_user ? nlohmann::json(*envelope.auth_user) : nlohmann::json(nullptr)},
          {"mail_from", envelope.mail_from.str()},
          {"rcpt_to", rcpts},
          {"verdict", filters::toString(verdict.action)},
          {"reasons", verdictReasons(verdict)},
          {"stages", verdict.stagesJson()}};
}

}  // namespace relayguard
