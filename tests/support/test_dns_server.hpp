// test_dns_server: starts tests/support/test_dns_server.py (python3-dnslib) on a free loopback
// port with a JSON zone (see the script for the format) and stops it with the object.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/child_process.hpp"

namespace relayguard::test {

class TestDnsServer {
 public:
  // Writes the zone into dir/zone.json and starts the server; throws std::runtime_error if it
  // does not report its port within a few seconds.
  TestDnsServer(const std::filesystem::path& dir, const nlohmann::json& zone);
  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Rewrites the zone file and returns once the server has re-read it.
  void update(const nlohmann::json& zone);

 private:
  std::filesystem::path zone_file_;
  std::unique_ptr<ChildProcess> process_;
  std::uint16_t port_ = 0;
  unsigned reloads_ = 0;  // SIGHUPs sent: update() waits for the server to report each
};

}  // namespace relayguard::test
