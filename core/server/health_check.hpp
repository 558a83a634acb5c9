// health_check: what GET /healthz reports: the relay can take mail right now. It can when the
// spool is writable (a probe file is created, written and removed in <spool>/tmp, where every
// message is first written), a filter pipeline is loaded and, if that pipeline scans for
// viruses, the ClamAV engine is loaded with signatures. Anything else is a problem named in one
// line (a load balancer takes the relay out of rotation on 503).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "filters/pipeline.hpp"

namespace relayguard {

struct HealthReport {
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
  // "ok\n", or one line per problem.
  std::string text() const;
};

// Blocking (a small file write); called on the admin server's own threads.
HealthReport checkHealth(const std::filesystem::path& spool_dir, const filters::Pipeline* pipeline);

}  // namespace relayguard
