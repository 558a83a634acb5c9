// test_dns_server: process control for the Python test DNS server (see test_dns_server.hpp).
#include "tests/support/test_dns_server.hpp"

#include <csignal>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace relayguard::test {
namespace {

void writeZone(const std::filesystem::path& file, const nlohmann::json& zone) {
  const auto tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << zone.dump();
  }
  std::filesystem::rename(tmp, file);
}

}  // namespace

TestDnsServer::TestDnsServer(const std::filesystem::path& dir, const nlohmann::json& zone)
    : zone_file_(dir / "zone.json") {
  writeZone(zone_file_, zone);
  const std::string script = std::string(RELAYGUARD_TEST_SUPPORT_DIR) + "/test_dns_server.py";
  process_ = std::make_unique<ChildProcess>(
      "/usr/bin/python3", std::vector<std::string>{script, zone_file_.string()}, dir / "dns.log");
  for (int i = 0; i < 100 && port_ == 0; ++i) {
    const std::string log = process_->log();
    const auto at = log.find("PORT ");
    if (at != std::string::npos && log.find('\n', at) != std::string::npos) {
      port_ = static_cast<std::uint16_t>(std::stoi(log.substr(at + 5)));
      break;
    }
    if (!process_->running()) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (port_ == 0) {
    throw std::runtime_error("test DNS server did not start: " + process_->log());
  }
}

void TestDnsServer::update(const nlohmann::json& zone) {
  writeZone(zone_file_, zone);
  process_->signal(SIGHUP);
  const std::string done = "RELOADED " + std::to_string(++reloads_) + "\n";
  if (!process_->waitForLog(done, std::chrono::seconds(10))) {
    throw std::runtime_error("test DNS server did not reload its zone: " + process_->log());
  }
}

}  // namespace relayguard::test
