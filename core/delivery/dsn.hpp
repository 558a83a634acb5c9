// dsn: delivery status notifications (bounces), RFC 3464 multipart/report messages sent with
// the null sender to the original sender when recipients fail permanently or expire.
// The original's headers are returned (text/rfc822-headers), never its body: a bounce must not
// carry an attachment back to a forged sender.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/message/address.hpp"
#include "core/util/time_format.hpp"

namespace relayguard::delivery {

struct BouncedRecipient {
  Address address = Address::null();
  std::string reply;   // "550 5.1.1 no such user", or our own text for expiry and routing errors
  std::string remote;  // the host that said it; empty if none
  bool expired = false;
};

struct DsnInput {
  std::string reporting_host;  // our hostname
  std::string queue_id;        // of the original
  Address original_sender = Address::null();
  SystemTime arrival{};
  std::vector<BouncedRecipient> recipients;
  std::string_view original_message;
  std::string message_id;  // for the bounce's own Message-ID (without <>)
  SystemTime now{};
};

// The enhanced status of a stored reply ("550 5.1.1 ..." → "5.1.1"), or a generic one.
std::string statusOf(std::string_view reply, bool expired);
std::string buildDsn(const DsnInput& input);

}  // namespace relayguard::delivery
