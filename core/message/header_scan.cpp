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

std::string firstHeaderValue(std::string_view message, std::string_view name) {
  std::string out;
  forEachHeaderField(message, [&](std::string_view n, std::string_view v) {
    if (iequals(n, name)) {
      out.assign(v);
      return false;
    }
    return true;
  });
  return out;
}

std::size_t countReceived(std::string_view message) {
  std::size_t n = 0;
  forEachHeaderField(message, [&](std::string_view name, std::string_view) {
    n += iequals(name, "Received") ? 1 : 0;
    return true;
  });
  return n;
}

}  // namespace relayguard
