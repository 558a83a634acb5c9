// registry: every metric family of the process, in registration order, and their rendering as
// one Prometheus text exposition (format 0.0.4) for GET /metrics.
//
// Families are registered at start-up (names and label names are checked: a bad one is a
// programming error, std::invalid_argument) and live as long as the registry; references to
// them and to their children stay valid. Rendering may run on any thread at any time.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/metrics/family.hpp"

namespace relayguard::metrics {

class Registry {
 public:
  Family<Counter>& counter(std::string name, std::string help,
                           std::vector<std::string> label_names = {});
  Family<Gauge>& gauge(std::string name, std::string help,
                       std::vector<std::string> label_names = {});
  Family<Histogram>& histogram(std::string name, std::string help,
                               std::vector<std::string> label_names, std::vector<double> bounds);
  void callbackGauge(std::string name, std::string help, std::function<std::optional<double>()> fn);

  // The whole exposition, families in registration order, children sorted by label values.
  std::string render() const;

  // The Content-Type of render()'s output.
  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  template <class F>
  F& add(std::unique_ptr<F> family);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<FamilyBase>> families_;
  std::set<std::string> names_;
};

}  // namespace relayguard::metrics
