// reply: wire rendering of SMTP replies (see reply.hpp).
#include "core/smtp/reply.hpp"

namespace relayguard::smtp {

std::string Reply::oneLine() const {
  std::string out = std::to_string(code);
  if (!enhanced.empty()) {
    out += ' ';
    out += enhanced;
  }
  if (!text.empty()) {
    out += ' ';
    out += text;
  }
  return out;
}

std::string Reply::wire() const {
  // Text never contains CR or LF by construction; guard anyway so a reply can never inject a
  // second line into the protocol stream.
  std::string line = oneLine();
  for (char& c : line) {
    if (c == '\r' || c == '\n') {
      c = ' ';
    }
  }
  return line + "\r\n";
}

std::string multilineWire(int code, const std::vector<std::string>& lines) {
  std::string out;
  const std::string prefix = std::to_string(code);
  for (size_t i = 0; i < lines.size(); ++i) {
    out += prefix;
    out += (i + 1 == lines.size()) ? ' ' : '-';
    out += lines[i];
    out += "\r\n";
  }
  return out;
}

}  // namespace relayguard::smtp
