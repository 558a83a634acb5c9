// relay_metrics: the relay's own metrics (relayguard_*), named and documented in one place, with
// one method per event the relay reports. `serve` owns one RelayMetrics and hands it to the
// listeners, sessions, the message acceptor, the pipeline (stage timings through
// StageContext) and the scheduler; GET /metrics renders registry().
//
// Labels take bounded values only: listener modes, fixed reasons and results, stage names, rule
// ids (from the rules directory) and route names (from the config), never an address.
// The list of metrics is in README.md ("Metrics").
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <optional>
#include <string_view>

#include "core/config/config.hpp"
#include "core/metrics/registry.hpp"

namespace relayguard::metrics {

class RelayMetrics {
 public:
  RelayMetrics();
  RelayMetrics(const RelayMetrics&) = delete;
  RelayMetrics& operator=(const RelayMetrics&) = delete;

  Registry& registry() { return registry_; }

  // SMTP sessions.
  void connectionOpened(ListenerMode mode);
  void connectionClosed(ListenerMode mode);
  void connectionRefused(bool total_limit);  // max_connections, else max_connections_per_ip
  void tlsHandshakeFailed(ListenerMode mode);
  enum class Auth { kSuccess, kFailure, kLockedOut };
  void authAttempt(Auth result);

  // Messages at the end of DATA. `verdict` is the pipeline's action; stage and rule name the
  // decisive finding (empty for accept). Refusals outside the verdict: "header_too_large",
  // "too_many_hops", "storage_error", "audit_error".
  void verdict(std::string_view verdict, std::string_view stage, std::string_view rule);
  void ruleMatched(std::string_view stage, std::string_view rule, std::string_view action);
  void messageRefused(std::string_view reason);
  void stageTimed(std::string_view stage, std::chrono::steady_clock::duration took);
  void pipelineTimed(std::chrono::steady_clock::duration took);
  void rulesReload(bool ok);

  // Delivery: one per recipient and attempt ("delivered", "deferred", "failed", "expired").
  void delivery(std::string_view result, std::string_view route);
  void bounce(bool sent);  // a DSN queued, or dropped (null sender)
  // The scheduler's view of the queue (the messages `queue list` shows).
  void queueChanged(std::size_t messages,
                    std::optional<std::chrono::system_clock::time_point> oldest);
  void deliveriesInFlight(std::size_t n);

 private:
  Registry registry_;
  Family<Counter>& connections_;
  Family<Gauge>& connections_active_;
  Family<Counter>& connections_refused_;
  Family<Counter>& tls_failures_;
  Family<Counter>& auth_;
  Family<Counter>& messages_;
  Family<Counter>& rule_matches_;
  Family<Counter>& refused_;
  Family<Histogram>& stage_duration_;
  Histogram& pipeline_duration_;
  Family<Counter>& reloads_;
  Family<Counter>& deliveries_;
  Family<Counter>& bounces_;
  Gauge& queue_messages_;
  Gauge& in_flight_;
  // Unix milliseconds of the oldest queued message's arrival; -1 while the queue is empty.
  std::atomic<std::int64_t> oldest_ms_{-1};
  // Per listener mode (ListenerMode's value), looked up once.
  std::array<Counter*, 3> opened_{};
  std::array<Gauge*, 3> active_{};
  std::array<Counter*, 3> tls_failed_{};
};

}  // namespace relayguard::metrics
