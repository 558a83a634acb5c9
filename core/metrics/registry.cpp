// registry: family registration and rendering (see registry.hpp and family.hpp).
#include "core/metrics/registry.hpp"

#include "core/metrics/exposition.hpp"

namespace relayguard::metrics {

FamilyBase::FamilyBase(std::string name, std::string help, std::string type,
                       std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(std::move(type)),
      label_names_(std::move(label_names)) {
  if (!isValidMetricName(name_)) {
    throw std::invalid_argument("'" + name_ + "' is not a valid metric name");
  }
  for (const auto& l : label_names_) {
    if (!isValidLabelName(l) || (type_ == "histogram" && l == "le")) {
      throw std::invalid_argument("metric " + name_ + ": '" + l + "' is not a valid label name");
    }
  }
}

void FamilyBase::render(std::string& out) const {
  out += "# HELP " + name_ + " " + escapeHelp(help_) + "\n";
  out += "# TYPE " + name_ + " " + type_ + "\n";
  renderSamples(out);
}

void FamilyBase::renderOne(std::string& out, const std::vector<std::string>& values,
                           const Counter& c) const {
  out += name_ + labelSet(label_names_, values) + " " + std::to_string(c.value()) + "\n";
}

void FamilyBase::renderOne(std::string& out, const std::vector<std::string>& values,
                           const Gauge& g) const {
  out += name_ + labelSet(label_names_, values) + " " + formatValue(g.value()) + "\n";
}

void FamilyBase::renderOne(std::string& out, const std::vector<std::string>& values,
                           const Histogram& h) const {
  const Histogram::Snapshot s = h.snapshot();
  for (std::size_t i = 0; i < s.cumulative.size(); ++i) {
    const std::string le = i < s.bounds.size() ? formatValue(s.bounds[i]) : "+Inf";
    out += name_ + "_bucket" + labelSet(label_names_, values, "le", le) + " " +
           std::to_string(s.cumulative[i]) + "\n";
  }
  const std::string labels = labelSet(label_names_, values);
  out += name_ + "_sum" + labels + " " + formatValue(s.sum) + "\n";
  out += name_ + "_count" + labels + " " + std::to_string(s.count()) + "\n";
}

void CallbackGauge::renderSamples(std::string& out) const {
  if (const auto v = fn_()) {
    out += name() + " " + formatValue(*v) + "\n";
  }
}

template <class F>
F& Registry::add(std::unique_ptr<F> family) {
  std::lock_guard lock(mutex_);
  if (!names_.insert(family->name()).second) {
    throw std::invalid_argument("metric " + family->name() + " is registered twice");
  }
  F& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

Family<Counter>& Registry::counter(std::string name, std::string help,
                                   std::vector<std::string> label_names) {
  return add(std::make_unique<Family<Counter>>(std::move(name), std::move(help), "counter",
                                               std::move(label_names),
                                               [] { return std::make_unique<Counter>(); }));
}

Family<Gauge>& Registry::gauge(std::string name, std::string help,
                               std::vector<std::string> label_names) {
  return add(std::make_unique<Family<Gauge>>(std::move(name), std::move(help), "gauge",
                                             std::move(label_names),
                                             [] { return std::make_unique<Gauge>(); }));
}

Family<Histogram>& Registry::histogram(std::string name, std::string help,
                                       std::vector<std::string> label_names,
                                       std::vector<double> bounds) {
  Histogram probe(bounds);  // checks the bounds now, not at the first observation
  return add(std::make_unique<Family<Histogram>>(
      std::move(name), std::move(help), "histogram", std::move(label_names),
      [bounds = std::move(bounds)] { return std::make_unique<Histogram>(bounds); }));
}

void Registry::callbackGauge(std::string name, std::string help,
                             std::function<std::optional<double>()> fn) {
  add(std::make_unique<CallbackGauge>(std::move(name), std::move(help), std::move(fn)));
}

std::string Registry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& f : families_) {
    f->render(out);
  }
  return out;
}

}  // namespace relayguard::metrics
