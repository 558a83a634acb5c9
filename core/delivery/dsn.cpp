// dsn: RFC 3464 bounce construction (see dsn.hpp).
#include "core/delivery/dsn.hpp"

#include <openssl/rand.h>

#include "core/util/strings.hpp"

namespace relayguard::delivery {
namespace {

bool isStatusCode(std::string_view s) {
  // class "." subject "." detail, e.g. 5.1.1 or 4.4.7
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') {
    return false;
  }
  const auto dot = s.find('.', 2);
  if (dot == std::string_view::npos || dot == 2 || dot + 1 >= s.size()) {
    return false;
  }
  for (std::size_t i = 2; i < s.size(); ++i) {
    if (i != dot && (s[i] < '0' || s[i] > '9')) {
      return false;
    }
  }
  return true;
}

std::string headerSection(std::string_view message) {
  const auto end = message.find("\r\n\r\n");
  return std::string(end == std::string_view::npos ? message : message.substr(0, end + 2));
}

std::string boundary() {
  unsigned char rnd[12];
  RAND_bytes(rnd, sizeof rnd);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "=_relayguard_";
  for (unsigned char c : rnd) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

}  // namespace

std::string statusOf(std::string_view reply, bool expired) {
  if (expired) {
    return "4.4.7";
  }
  const auto parts = splitWhitespace(reply);
  if (parts.size() >= 2 && isStatusCode(parts[1])) {
    return std::string(parts[1]);
  }
  if (!parts.empty() && !parts[0].empty() && parts[0][0] == '4') {
    return "4.0.0";
  }
  return "5.0.0";
}

std::string buildDsn(const DsnInput& in) {
  const std::string b = boundary();
  std::string m;
  m += "From: Mail Delivery System <MAILER-DAEMON@" + in.reporting_host + ">\r\n";
  m += "To: " + in.original_sender.bracketed() + "\r\n";
  m += "Subject: Undelivered Mail Returned to Sender\r\n";
  m += "Date: " + rfc5322Date(in.now) + "\r\n";
  m += "Message-ID: <" + in.message_id + ">\r\n";
  m += "Auto-Submitted: auto-replied\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"" + b +
       "\"\r\n";
  m += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

  m += "--" + b + "\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\n";
  m += "Content-Description: Notification\r\n\r\n";
  m += "This is the mail system at host " + in.reporting_host + ".\r\n\r\n";
  m += "Your message could not be delivered to one or more recipients.\r\n";
  m += "It is attached below (headers only).\r\n\r\n";
  for (const auto& r : in.recipients) {
    m += r.address.bracketed() + ": ";
    if (r.expired) {
      m += "delivery time expired; last error: ";
    }
    m += (r.reply.empty() ? std::string("undeliverable") : r.reply);
    if (!r.remote.empty()) {
      m += " (from " + r.remote + ")";
    }
    m += "\r\n";
  }
  m += "\r\n";

  m += "--" + b + "\r\n";
  m += "Content-Type: message/delivery-status\r\n";
  m += "Content-Description: Delivery report\r\n\r\n";
  m += "Reporting-MTA: dns; " + in.reporting_host + "\r\n";
  m += "X-Relayguard-Queue-ID: " + in.queue_id + "\r\n";
  m += "Arrival-Date: " + rfc5322Date(in.arrival) + "\r\n";
  for (const auto& r : in.recipients) {
    m += "\r\n";
    m += "Final-Recipient: rfc822; " + r.address.str() + "\r\n";
    m += "Action: failed\r\n";
    m += "Status: " + statusOf(r.reply, r.expired) + "\r\n";
    if (!r.remote.empty()) {
      m += "Remote-MTA: dns; " + r.remote + "\r\n";
    }
    const auto first = r.reply.empty() ? '\0' : r.reply.front();
    if (first == '4' || first == '5') {
      m += "Diagnostic-Code: smtp; " + r.reply + "\r\n";
    }
  }
  m += "\r\n";

  m += "--" + b + "\r\n";
  m += "Content-Type: text/rfc822-headers\r\n";
  m += "Content-Description: Undelivered Message Headers\r\n\r\n";
  m += headerSection(in.original_message);
  m += "\r\n--" + b + "--\r\n";
  return m;
}

}  // namespace relayguard::delivery
