// relay_metrics_test: the relay's events land in the right families and labels.
#include "core/metrics/relay_metrics.hpp"

#include <gtest/gtest.h>

namespace relayguard::metrics {
namespace {

bool has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(RelayMetrics, FixedLabelSetsStartAtZero) {
  RelayMetrics m;
  const std::string out = m.registry().render();
  EXPECT_TRUE(has(out, "relayguard_auth_attempts_total{result=\"failure\"} 0"));
  EXPECT_TRUE(has(out, "relayguard_smtp_connections_total{mode=\"smtps\"} 0"));
  EXPECT_TRUE(has(out, "relayguard_queue_messages 0"));
  EXPECT_TRUE(has(out, "relayguard_queue_oldest_message_age_seconds 0"));
}

TEST(RelayMetrics, CountsEvents) {
  RelayMetrics m;
  m.connectionOpened(ListenerMode::kRelay);
  m.connectionOpened(ListenerMode::kRelay);
  m.connectionClosed(ListenerMode::kRelay);
  m.authAttempt(RelayMetrics::Auth::kLockedOut);
  m.verdict("reject", "content", "no-spam");
  m.verdict("accept", "", "");
  m.delivery("delivered", "route#1 (*)");
  m.stageTimed("content", std::chrono::milliseconds(3));
  const std::string out = m.registry().render();
  EXPECT_TRUE(has(out, "relayguard_smtp_connections_total{mode=\"relay\"} 2"));
  EXPECT_TRUE(has(out, "relayguard_smtp_connections_active{mode=\"relay\"} 1"));
  EXPECT_TRUE(has(out, "relayguard_auth_attempts_total{result=\"locked_out\"} 1"));
  EXPECT_TRUE(has(
      out, "relayguard_messages_total{verdict=\"reject\",stage=\"content\",rule=\"no-spam\"} 1"));
  EXPECT_TRUE(has(out, "relayguard_messages_total{verdict=\"accept\",stage=\"\",rule=\"\"} 1"));
  EXPECT_TRUE(
      has(out, "relayguard_deliveries_total{result=\"delivered\",route=\"route#1 (*)\"} 1"));
  EXPECT_TRUE(
      has(out, "relayguard_stage_duration_seconds_bucket{stage=\"content\",le=\"0.005\"} 1"));
  EXPECT_TRUE(
      has(out, "relayguard_stage_duration_seconds_bucket{stage=\"content\",le=\"0.001\"} 0"));
}

TEST(RelayMetrics, QueueAgeFollowsTheOldestMessage) {
  RelayMetrics m;
  m.queueChanged(2, std::chrono::system_clock::now() - std::chrono::seconds(100));
  const std::string out = m.registry().render();
  EXPECT_TRUE(has(out, "relayguard_queue_messages 2"));
  const auto pos = out.find("\nrelayguard_queue_oldest_message_age_seconds ");
  ASSERT_NE(pos, std::string::npos);
  const double age = std::stod(out.substr(pos + 45));
  EXPECT_GE(age, 100);
  EXPECT_LT(age, 110);
  m.queueChanged(0, std::nullopt);
  EXPECT_TRUE(has(m.registry().render(), "relayguard_queue_oldest_message_age_seconds 0"));
}

}  // namespace
}  // namespace relayguard::metrics
