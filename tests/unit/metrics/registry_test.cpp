// registry_test: counters, gauges, histograms and labelled families rendered as a Prometheus
// text exposition.
#include "core/metrics/registry.hpp"

#include <thread>

#include <gtest/gtest.h>

namespace relayguard::metrics {
namespace {

TEST(Registry, RendersHelpTypeAndSamplesInRegistrationOrder) {
  Registry r;
  auto& c = r.counter("t_events_total", "Events.\nSecond line", {"kind"});
  r.gauge("t_level", "A level").get().set(1.5);
  c.labels({"b"}).inc(2);
  c.labels({"a\"x"}).inc();
  EXPECT_EQ(r.render(),
            "# HELP t_events_total Events.\\nSecond line\n"
            "# TYPE t_events_total counter\n"
            "t_events_total{kind=\"a\\\"x\"} 1\n"
            "t_events_total{kind=\"b\"} 2\n"
            "# HELP t_level A level\n"
            "# TYPE t_level gauge\n"
            "t_level 1.5\n");
}

TEST(Registry, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry r;
  auto& h = r.histogram("t_seconds", "Latency", {"stage"}, {0.1, 1});
  auto& child = h.labels({"av"});
  child.observe(0.05);
  child.observe(0.1);  // le is inclusive
  child.observe(0.5);
  child.observe(7);
  EXPECT_EQ(r.render(),
            "# HELP t_seconds Latency\n"
            "# TYPE t_seconds histogram\n"
            "t_seconds_bucket{stage=\"av\",le=\"0.1\"} 2\n"
            "t_seconds_bucket{stage=\"av\",le=\"1\"} 3\n"
            "t_seconds_bucket{stage=\"av\",le=\"+Inf\"} 4\n"
            "t_seconds_sum{stage=\"av\"} 7.65\n"
            "t_seconds_count{stage=\"av\"} 4\n");
}

TEST(Registry, ChildrenAreStableAndLabelCountsChecked) {
  Registry r;
  auto& f = r.counter("t_total", "T", {"a", "b"});
  Counter& one = f.labels({"x", "y"});
  for (int i = 0; i < 100; ++i) {
    f.labels({"x", std::to_string(i)});
  }
  EXPECT_EQ(&one, &f.labels({"x", "y"}));
  EXPECT_THROW(f.labels({"x"}), std::invalid_argument);
}

TEST(Registry, RefusesBadAndDuplicateNames) {
  Registry r;
  r.counter("t_total", "T");
  EXPECT_THROW(r.counter("t_total", "again"), std::invalid_argument);
  EXPECT_THROW(r.gauge("bad-name", "B"), std::invalid_argument);
  EXPECT_THROW(r.counter("t2_total", "B", {"le-x"}), std::invalid_argument);
  EXPECT_THROW(r.histogram("t_h", "H", {"le"}, {1}), std::invalid_argument);
  EXPECT_THROW(r.histogram("t_h2", "H", {}, {1, 0.5}), std::invalid_argument);
}

TEST(Registry, CallbackGaugesAreReadAtRenderTime) {
  Registry r;
  std::optional<double> value;
  r.callbackGauge("t_cb", "CB", [&] { return value; });
  EXPECT_EQ(r.render(), "# HELP t_cb CB\n# TYPE t_cb gauge\n");
  value = 42;
  EXPECT_EQ(r.render(), "# HELP t_cb CB\n# TYPE t_cb gauge\nt_cb 42\n");
}

TEST(Registry, ConcurrentIncrementsAreAllCounted) {
  Registry r;
  auto& f = r.counter("t_total", "T", {"k"});
  auto& h = r.histogram("t_seconds", "H", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        f.labels({t % 2 ? "odd" : "even"}).inc();
        h.get().observe(0.5);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(f.labels({"odd"}).value() + f.labels({"even"}).value(), 40000U);
  EXPECT_EQ(h.get().snapshot().count(), 40000U);
  EXPECT_DOUBLE_EQ(h.get().snapshot().sum, 20000);
}

}  // namespace
}  // namespace relayguard::metrics
