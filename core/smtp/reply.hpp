// reply: an SMTP reply as the relay sends it: a three-digit code, an RFC 3463 enhanced status
// code and human text. Kept apart from the logged reason everywhere (what the client sees is
// never the internal detail).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace relayguard::smtp {

struct Reply {
  int code = 250;
  std::string enhanced;  // "2.0.0"; empty for greetings and replies that carry none
  std::string text;

  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
  // Wire form, one line or several ("250-..." continuation lines), each ending in CRLF.
  std::string wire() const;
  // "550 5.7.1 text" on one line, for logs and stored errors.
  std::string oneLine() const;
};

// An EHLO-style multi-line reply: the first line, then one line per extension.
std::string multilineWire(int code, const std::vector<std::string>& lines);

}  // namespace relayguard::smtp
