// relay_metrics: the relay's metric families (see relay_metrics.hpp).
#include "core/metrics/relay_metrics.hpp"

namespace relayguard::metrics {
namespace {

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

std::size_t modeIndex(ListenerMode mode) {
  return static_cast<std::size_t>(mode);
}

}  // namespace

RelayMetrics::RelayMetrics()
    : connections_(registry_.counter("relayguard_smtp_connections_total",
                                     "SMTP connections accepted, by listener mode", {"mode"})),
      connections_active_(registry_.gauge("relayguard_smtp_connections_active",
                                          "SMTP sessions open now, by listener mode", {"mode"})),
      connections_refused_(
          registry_.counter("relayguard_smtp_connections_refused_total",
                            "SMTP connections refused with 421 by a connection limit", {"reason"})),
      tls_failures_(registry_.counter("relayguard_tls_handshake_failures_total",
                                      "Inbound TLS handshakes (STARTTLS or smtps) that failed",
                                      {"mode"})),
      auth_(registry_.counter("relayguard_auth_attempts_total",
                              "SMTP AUTH attempts: success, failure (wrong credentials) or "
                              "locked_out (refused without a check)",
                              {"result"})),
      messages_(registry_.counter(
          "relayguard_messages_total",
          "Messages judged by the filter pipeline, by verdict and the stage and rule that "
          "decided it (empty for accept)",
          {"verdict", "stage", "rule"})),
      rule_matches_(registry_.counter("relayguard_rule_matches_total",
                                      "Findings of the filter stages (a message may have several)",
                                      {"stage", "rule", "action"})),
      refused_(registry_.counter("relayguard_messages_refused_total",
                                 "Messages refused at the end of DATA outside the verdict",
                                 {"reason"})),
      stage_duration_(registry_.histogram("relayguard_stage_duration_seconds",
                                          "Time each filter stage took per message", {"stage"},
                                          latencyBuckets())),
      pipeline_duration_(registry_
                             .histogram("relayguard_pipeline_duration_seconds",
                                        "Time the whole filter pipeline took per message", {},
                                        latencyBuckets())
                             .get()),
      reloads_(registry_.counter("relayguard_rules_reloads_total",
                                 "Rules directory reloads (SIGHUP): ok or refused", {"result"})),
      deliveries_(registry_.counter(
          "relayguard_deliveries_total",
          "Delivery outcomes per recipient and attempt: delivered, deferred, failed, expired",
          {"result", "route"})),
      bounces_(registry_.counter("relayguard_bounces_total",
                                 "Failed recipients reported: a DSN sent, or dropped (null sender)",
                                 {"result"})),
      queue_messages_(registry_
                          .gauge("relayguard_queue_messages",
                                 "Messages in the delivery queue (what `queue list` shows)")
                          .get()),
      in_flight_(
          registry_.gauge("relayguard_deliveries_in_flight", "Deliveries being attempted now")
              .get()) {
  registry_.callbackGauge("relayguard_queue_oldest_message_age_seconds",
                          "Age of the oldest message in the delivery queue (0 when it is empty)",
                          [this]() -> std::optional<double> {
                            const std::int64_t oldest = oldest_ms_.load(std::memory_order_relaxed);
                            if (oldest < 0) {
                              return 0.0;
                            }
                            const auto now =
                                std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
                            return std::max<double>(0, static_cast<double>(now - oldest) / 1000.0);
                          });
  for (const auto mode : {ListenerMode::kRelay, ListenerMode::kSubmission, ListenerMode::kSmtps}) {
    const std::string name(toString(mode));
    opened_.at(modeIndex(mode)) = &connections_.labels({name});
    active_.at(modeIndex(mode)) = &connections_active_.labels({name});
    tls_failed_.at(modeIndex(mode)) = &tls_failures_.labels({name});
  }
  for (const char* result : {"success", "failure", "locked_out"}) {
    auth_.labels({result});
  }
  for (const char* reason : {"max_connections", "max_connections_per_ip"}) {
    connections_refused_.labels({reason});
  }
  for (const char* reason : {"header_too_large", "too_many_hops", "storage_error", "audit_error"}) {
    refused_.labels({reason});
  }
  for (const char* result : {"ok", "refused"}) {
    reloads_.labels({result});
  }
  for (const char* result : {"sent", "dropped"}) {
    bounces_.labels({result});
  }
}

void RelayMetrics::connectionOpened(ListenerMode mode) {
  opened_.at(modeIndex(mode))->inc();
  active_.at(modeIndex(mode))->add(1);
}

void RelayMetrics::connectionClosed(ListenerMode mode) {
  active_.at(modeIndex(mode))->add(-1);
}

void RelayMetrics::connectionRefused(bool total_limit) {
  connections_refused_.labels({total_limit ? "max_connections" : "max_connections_per_ip"}).inc();
}

void RelayMetrics::tlsHandshakeFailed(ListenerMode mode) {
  tls_failed_.at(modeIndex(mode))->inc();
}

void RelayMetrics::authAttempt(Auth result) {
  auth_
      .labels({result == Auth::kSuccess   ? "success"
               : result == Auth::kFailure ? "failure"
                                          : "locked_out"})
      .inc();
}

void RelayMetrics::verdict(std::string_view verdict, std::string_view stage,
                           std::string_view rule) {
  messages_.labels({std::string(verdict), std::string(stage), std::string(rule)}).inc();
}

void RelayMetrics::ruleMatched(std::string_view stage, std::string_view rule,
                               std::string_view action) {
  rule_matches_.labels({std::string(stage), std::string(rule), std::string(action)}).inc();
}

void RelayMetrics::messageRefused(std::string_view reason) {
  refused_.labels({std::string(reason)}).inc();
}

void RelayMetrics::stageTimed(std::string_view stage, std::chrono::steady_clock::duration took) {
  stage_duration_.labels({std::string(stage)}).observe(seconds(took));
}

void RelayMetrics::pipelineTimed(std::chrono::steady_clock::duration took) {
  pipeline_duration_.observe(seconds(took));
}

void RelayMetrics::rulesReload(bool ok) {
  reloads_.labels({ok ? "ok" : "refused"}).inc();
}

void RelayMetrics::delivery(std::string_view result, std::string_view route) {
  deliveries_.labels({std::string(result), std::string(route)}).inc();
}

void RelayMetrics::bounce(bool sent) {
  bounces_.labels({sent ? "sent" : "dropped"}).inc();
}

void RelayMetrics::queueChanged(std::size_t messages,
                                std::optional<std::chrono::system_clock::time_point> oldest) {
  queue_messages_.set(static_cast<double>(messages));
  oldest_ms_.store(
      oldest ? std::chrono::duration_cast<std::chrono::milliseconds>(oldest->time_since_epoch())
                   .count()
             : -1,
      std::memory_order_relaxed);
}

void RelayMetrics::deliveriesInFlight(std::size_t n) {
  in_flight_.set(static_cast<double>(n));
}

}  // namespace relayguard::metrics
