// pipeline_gauges: metrics read from the filter pipeline in force when /metrics is scraped:
// the rules loaded and, with an antivirus stage, ClamAV's signature count and database age.
#pragma once

#include "core/metrics/registry.hpp"
#include "core/server/message_acceptor.hpp"

namespace relayguard {

// `pipeline` must outlive `registry`'s renders.
void registerPipelineGauges(metrics::Registry& registry, const PipelineSlot& pipeline);

}  // namespace relayguard
