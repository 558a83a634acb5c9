// control_commands: the requests the control socket answers (see control_socket.hpp):
//
//   {"command": "ping"}                                  -> {"ok": true}
//   {"command": "queue.flush"}                           -> {"ok": true}
//   {"command": "queue.delete", "id": ID}                -> {"ok": true} | not found | busy
//   {"command": "quarantine.release", "id": ID, "to": [ADDR...], "reason": TEXT}
//   {"command": "quarantine.delete", "id": ID, "reason": TEXT}
//   {"command": "quarantine.purge", "before_ms": UNIX_MILLISECONDS, "reason": TEXT}
//                                                        -> {"ok": true, "deleted": N, "skipped":
//                                                        N}
//
// Failures are {"ok": false, "error": TEXT, "status": "not_found" | "busy" | "failed" |
// "bad_request"}. The quarantine commands run as the peer (its user is the audit line's
// operator). The CLI uses the same dispatcher in-process when no relay runs (scheduler null), so
// both paths take one request format.
#pragma once

#include <asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "core/quarantine/quarantine_review.hpp"
#include "core/server/control_socket.hpp"

namespace relayguard {

namespace delivery {
class Scheduler;
}

class ControlCommands {
 public:
  // scheduler may be null (no relay running): the queue commands then answer bad_request.
  ControlCommands(delivery::Scheduler* scheduler, QuarantineReview& quarantine)
      : scheduler_(scheduler), quarantine_(quarantine) {}

  asio::awaitable<nlohmann::json> handle(const nlohmann::json& request, const ControlPeer& peer);

 private:
  asio::awaitable<nlohmann::json> queueDelete(const nlohmann::json& request);
  asio::awaitable<nlohmann::json> quarantineCommand(const std::string& command,
                                                    const nlohmann::json& request,
                                                    const ControlPeer& peer);

  delivery::Scheduler* scheduler_;
  QuarantineReview& quarantine_;
};

}  // namespace relayguard
