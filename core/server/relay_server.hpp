// relay_server: the `relayguard serve` process: owns the spool (under an exclusive lock), the
// I/O threads, the blocking pool, the listeners, the scheduler and the control socket, and
// handles signals: SIGTERM/SIGINT stop accepting, let sessions and deliveries finish within a
// grace period and exit 0 (anything unfinished stays safely queued); SIGHUP reloads the rules,
// the TLS certificate and the users file (each refused on error, the old one staying in force).
#pragma once

#include <chrono>

#include "core/config/config.hpp"

namespace relayguard {

struct ServeOptions {
  std::chrono::seconds shutdown_grace{20};
  unsigned io_threads = 0;  // 0: one per core, at least 2
};

// Runs until a stop signal; returns the process exit code. Start-up errors are printed to
// stderr (one line each) and give 1.
int runRelayServer(const Config& config, const ServeOptions& options);

}  // namespace relayguard
