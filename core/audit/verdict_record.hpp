// verdict_record: the one record of a message's verdict, as the audit log (CONTRACT.md) and the
// quarantine store keep it: time, event "verdict", queue_id, message_id, client_ip, auth_user,
// mail_from, rcpt_to, verdict, and stages (one object per finding with stage, result, rule,
// detail). The hash-chained writer comes with the audit issue; this is its input.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/message/envelope.hpp"
#include "filters/verdict.hpp"

namespace relayguard {

nlohmann::json verdictRecord(const Envelope& envelope, const std::string& queue_id,
                             const std::string& message_id, const filters::Verdict& verdict,
                             SystemTime time);
// Rule ids (and later virus names) behind a verdict: the findings with the verdict's action.
nlohmann::json verdictReasons(const filters::Verdict& verdict);

}  // namespace relayguard
