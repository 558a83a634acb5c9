// spf_stage: the `spf` stage: checks that our own outgoing mail will pass SPF at its receivers,
// i.e. that the configured egress_ips are allowed to send for the envelope sender's domain (or
// for our HELO name, [hostname], when the sender is null). libspf2 evaluates over the program's
// resolver (dns/spf_evaluator), on the blocking pool.
//
// pipeline.toml keys (the pipeline itself reads `on_error`; default tempfail, fail closed):
//   egress_ips    required; the addresses receivers will see our mail come from
//   on_fail       tag | quarantine | reject | accept   (default tag)      for "fail"
//   on_softfail   the same choices                    (default accept)   for "softfail"
//   on_permerror  the same choices                    (default accept)   for a broken policy
// pass, neutral and none are accepted; temperror (the DNS did not answer) is a stage error, so
// on_error applies. Every egress address gets one finding, rule "spf-<result>", with the domain,
// the address and the reason; a tagged message gets "X-Relayguard-Tag: spf-<result>".
//
// Results are cached per (domain, egress address) for the smallest DNS TTL seen while
// evaluating (at most an hour; temperror never), so at steady state SPF costs no DNS query and
// no blocking-pool work per message. A policy that uses the sender's local part (%{l}, %{s})
// is cached per sender instead.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "filters/registry.hpp"

namespace relayguard::filters {

class SpfStage : public Stage {
 public:
  struct Options {
    std::vector<std::string> egress_ips;
    Action on_fail = Action::kTag;
    Action on_softfail = Action::kAccept;
    Action on_permerror = Action::kAccept;
    std::chrono::seconds max_cache_ttl{3600};
    std::size_t max_cache_entries = 10000;
  };

  explicit SpfStage(Options options);
  ~SpfStage() override;

  static std::unique_ptr<Stage> create(StageConfig& config);

  std::string_view name() const override { return "spf"; }
  asio::awaitable<StageResult> run(const MessageView& message, StageContext& ctx) const override;

  const std::vector<std::string>& egressIps() const { return options_.egress_ips; }
  // libspf2 evaluations done so far (cache misses), for tests and diagnostics.
  std::size_t evaluations() const;

 private:
  struct Cache;
  Options options_;
  std::shared_ptr<Cache> cache_;
};

}  // namespace relayguard::filters
