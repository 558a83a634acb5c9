// health_check: the checks behind GET /healthz (see health_check.hpp).
#include "core/server/health_check.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include "filters/antivirus/antivirus_stage.hpp"

namespace relayguard {
namespace {

// Empty when a file can be created, written and removed in `dir`, else why not.
std::string probeWritable(const std::filesystem::path& dir) {
  static std::atomic<unsigned> serial{0};
  const auto probe =
      dir / (".healthz-" + std::to_string(::getpid()) + "-" + std::to_string(serial.fetch_add(1)));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return "cannot create a file in " + dir.string() + ": " + std::strerror(errno);
  }
  std::string problem;
  if (::write(fd, "x", 1) != 1) {
    problem = "cannot write in " + dir.string() + ": " + std::strerror(errno);
  }
  if (::close(fd) != 0 && problem.empty()) {
    problem = "cannot write in " + dir.string() + ": " + std::strerror(errno);
  }
  if (::unlink(probe.c_str()) != 0 && problem.empty()) {
    problem = "cannot remove a file in " + dir.string() + ": " + std::strerror(errno);
  }
  return problem;
}

}  // namespace

std::string HealthReport::text() const {
  if (ok()) {
    return "ok\n";
  }
  std::string out;
  for (const auto& p : problems) {
    out += p + "\n";
  }
  return out;
}

HealthReport checkHealth(const std::filesystem::path& spool_dir,
                         const filters::Pipeline* pipeline) {
  HealthReport report;
  if (const std::string problem = probeWritable(spool_dir / "tmp"); !problem.empty()) {
    report.problems.push_back("spool not writable: " + problem);
  }
  if (pipeline == nullptr) {
    report.problems.push_back("pipeline not loaded");
  } else if (const auto* av = pipeline->find<filters::AntivirusStage>();
             av != nullptr && av->signatures() == 0) {
    report.problems.push_back("antivirus engine not loaded (no signatures)");
  }
  return report;
}

}  // namespace relayguard
