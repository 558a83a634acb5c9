// family: one named metric with its label names and one child metric per set of label values
// (relayguard_messages_total{verdict="reject",stage="content",rule="spam"}).
//
// labels() finds the child under the family's own reader lock (creating one takes the writer
// lock once) and returns a reference that stays valid for the life of the family, so callers on
// a hot path may also look a child up once and keep the reference; increments are lock-free. Label
// values must come from bounded sets (rule ids, stage names, routes): never addresses or client
// IPs.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/metrics/metric.hpp"

namespace relayguard::metrics {

class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, std::string type,
             std::vector<std::string> label_names);
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  // Appends `# HELP`, `# TYPE` and every sample line.
  void render(std::string& out) const;

 protected:
  virtual void renderSamples(std::string& out) const = 0;
  // The sample lines of one child.
  void renderOne(std::string& out, const std::vector<std::string>& values, const Counter& c) const;
  void renderOne(std::string& out, const std::vector<std::string>& values, const Gauge& g) const;
  void renderOne(std::string& out, const std::vector<std::string>& values,
                 const Histogram& h) const;
  std::size_t labelCount() const { return label_names_.size(); }

 private:
  std::string name_;
  std::string help_;
  std::string type_;
  std::vector<std::string> label_names_;
};

template <class M>
class Family : public FamilyBase {
 public:
  using Factory = std::function<std::unique_ptr<M>()>;
  Family(std::string name, std::string help, std::string type, std::vector<std::string> label_names,
         Factory make)
      : FamilyBase(std::move(name), std::move(help), std::move(type), std::move(label_names)),
        make_(std::move(make)) {}

  // The child for these label values (as many as the family has label names, else
  // std::invalid_argument: a programming error).
  M& labels(std::vector<std::string> values) {
    if (values.size() != labelCount()) {
      throw std::invalid_argument("metric " + name() + ": wrong number of label values");
    }
    {
      std::shared_lock lock(mutex_);
      const auto it = children_.find(values);
      if (it != children_.end()) {
        return *it->second;
      }
    }
    std::unique_lock lock(mutex_);
    auto& child = children_[std::move(values)];
    if (!child) {
      child = make_();
    }
    return *child;
  }
  // The only child of a family without labels.
  M& get() { return labels({}); }

 protected:
  void renderSamples(std::string& out) const override {
    std::shared_lock lock(mutex_);
    for (const auto& [values, child] : children_) {
      renderOne(out, values, *child);
    }
  }

 private:
  Factory make_;
  mutable std::shared_mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> children_;
};

// An unlabelled gauge computed when /metrics is read (queue age, signature count); no sample
// while the function returns nullopt (e.g. no antivirus stage).
class CallbackGauge : public FamilyBase {
 public:
  CallbackGauge(std::string name, std::string help, std::function<std::optional<double>()> fn)
      : FamilyBase(std::move(name), std::move(help), "gauge", {}), fn_(std::move(fn)) {}

 protected:
  void renderSamples(std::string& out) const override;

 private:
  std::function<std::optional<double>()> fn_;
};

}  // namespace relayguard::metrics
