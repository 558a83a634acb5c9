// resident_memory: this process's resident memory as the kernel reports it in /proc/self/status
// (RssFile: mapped file pages; RssAnon: heap, stacks, anonymous mappings), for tests that check
// a pass over a large input keeps a bounded part of it resident, or holds no copy of it.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>

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

// How far RssAnon rose above its value at the start while f() ran, in KiB. The kernel keeps no
// peak of it, so a thread samples it every 200 µs: a rise shorter than that can be missed (a
// test that wants it low can pass wrongly under load, never fail wrongly).
template <class F>
std::size_t peakAnonGrowthKib(F&& f) {
  const std::size_t before = residentKib("RssAnon");
  std::atomic<bool> done{false};
  std::size_t peak = before;
  std::thread sampler([&] {
    while (!done.load()) {
      peak = std::max(peak, residentKib("RssAnon"));
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  f();
  done = true;
  sampler.join();
  return std::max(peak, residentKib("RssAnon")) - before;
}

}  // namespace relayguard::test
