// metric: the three metric kinds the relay exports, cheap enough for the message hot path.
//
// Counter and Gauge are one atomic each; Histogram is one atomic per bucket plus the sum, so
// observe() takes no lock and threads only contend on the same cache line. Values are read
// (relaxed) when /metrics is rendered: a scrape may see one observation in a bucket before it
// shows in the sum, which Prometheus tolerates.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace relayguard::metrics {

// Only ever goes up (reset only by a restart).
class Counter {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down (sessions open, messages queued).
class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets (upper bounds, ascending; +Inf is implied).
class Histogram {
 public:
  // Throws std::invalid_argument unless bounds are finite and strictly ascending.
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative;  // one per bound, then the +Inf bucket (= count)
    double sum = 0;
    std::uint64_t count() const { return cumulative.back(); }
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1 (the +Inf one)
  std::atomic<double> sum_{0};
};

// Latency buckets in seconds, from 0.5 ms to 30 s: filter stages, deliveries.
const std::vector<double>& latencyBuckets();

}  // namespace relayguard::metrics
