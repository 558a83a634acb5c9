// resident_memory: this process's resident memory as the kernel reports it in /proc/self/status
// (RssFile: mapped file pages; RssAnon: heap, stacks, anonymous mappings), for tests that check
// a pass over a large input keeps a bounded part of it resident.
#pragma once

#include <cstddef>
#include <fstream>
#include <string>
#include <string_view>

namespace relayguard::test {

// The value of `field` ("RssFile", "RssAnon", "VmRSS", ...) in KiB; 0 if absent.
inline std::size_t residentKib(std::string_view field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with(field) && line.size() > field.size() && line[field.size()] == ':') {
      return std::stoul(line.substr(field.size() + 1));
    }
  }
  return 0;
}

}  // namespace relayguard::test
