// header_scan: top-level header field walk (see header_scan.hpp).
#include "core/message/header_scan.hpp"

#include "core/util/strings.hpp"

namespace relayguard {

void forEachHeaderField(std::string_view message,
                        const std::function<bool(std::string_view, std::string_view)>& fn) {
  std::size_t pos = 0;
  std::string name;
  std::string value;
  bool have = false;
  auto emit = [&]() { return !have || fn(name, trim(value)); };
  while (pos < message.size()) {
    const auto eol = message.find("\r\n", pos);
    const auto line =
        message.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    if (line.empty()) {
      break;  // end of the header section
    }
    if (line.front() == ' ' || line.front() == '\t') {
      if (have) {
        value += ' ';
        value += trim(line);
      }
    } else {
      if (!emit()) {
        return;
      }
      const auto colon = line.find(':');
      have = colon != std::string_view::npos;
      if (have) {
        name.assign(trim(line.substr(0, colon)));
        value.assign(line.substr(colon + 1));
      }
    }
    if (eol == std::string_view::npos) {
      break;
    }
    pos = eol + 2;
  }
  emit();
}

HeaderFacts headerFacts(std::string_view message) {
  HeaderFacts facts;
  const auto end = message.find("\r\n\r\n");
  facts.bytes = end == std::string_view::npos ? message.size() : end;
  forEachHeaderField(message, [&facts](std::string_view name, std::string_view value) {
    if (iequals(name, "Received")) {
      ++facts.received;
    } else if (facts.message_id.empty() && iequals(name, "Message-ID")) {
      facts.message_id.assign(value);
    } else if (facts.subject.empty() && iequals(name, "Subject")) {
      facts.subject.assign(value);
    }
    return true;
  });
  return facts;
}

}  // namespace relayguard
