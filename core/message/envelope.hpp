// envelope: everything the relay knows about a message besides its bytes: who handed it over,
// from where, and to whom it goes. Built by the SMTP session, stored beside the message in the
// spool, read by the filter stages and the delivery side.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/message/address.hpp"
#include "core/util/time_format.hpp"

namespace relayguard {

struct Envelope {
  Address mail_from = Address::null();
  std::vector<Address> rcpt_to;
  std::string client_ip;
  std::string helo;
  std::optional<std::string> auth_user;  // set after SMTP AUTH
  bool esmtp = true;                     // EHLO rather than HELO (for Received: "with ESMTP")
  bool tls = false;
  bool smtputf8 = false;
  bool body_8bit = false;  // BODY=8BITMIME
  SystemTime received{};
};

}  // namespace relayguard
