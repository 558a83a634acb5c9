// run_pipeline: test helper that runs a pipeline on a message synchronously (an io_context on
// the calling thread plus a small blocking pool), as the relay would at the end of DATA.
#pragma once

#include <string>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_future.hpp>

#include "core/util/durable_file.hpp"
#include "filters/pipeline.hpp"

namespace relayguard::test {

inline std::string crlf(const std::string& in) {
  std::string out;
  for (char c : in) {
    if (c == '\n' && (out.empty() || out.back() != '\r')) {
      out += '\r';
    }
    out += c;
  }
  return out;
}

inline Envelope testEnvelope() {
  Envelope env;
  env.mail_from = *Address::parseMailbox("app@example.test");
  env.rcpt_to = {*Address::parseMailbox("user@example.test")};
  env.client_ip = "127.0.0.1";
  env.helo = "test";
  return env;
}

// Runs the pipeline with `blocking` as its blocking pool. outbound_only: Pipeline::runOutbound
// (a quarantine release) instead of Pipeline::run; observer: StageContext::observer.
inline filters::Verdict runPipelineOn(asio::thread_pool& blocking,
                                      const filters::Pipeline& pipeline, const std::string& raw,
                                      const Envelope& env = testEnvelope(),
                                      bool outbound_only = false,
                                      filters::StageObserver* observer = nullptr) {
  asio::io_context io;
  const MessageView view(env, raw);
  filters::StageContext ctx{blocking};
  ctx.observer = observer;
  auto future =
      asio::co_spawn(io, outbound_only ? pipeline.runOutbound(view, ctx) : pipeline.run(view, ctx),
                     asio::use_future);
  io.run();
  return future.get();
}

// The same with a pool of its own (two threads).
inline filters::Verdict runPipeline(const filters::Pipeline& pipeline, const std::string& raw,
                                    const Envelope& env = testEnvelope(),
                                    bool outbound_only = false,
                                    filters::StageObserver* observer = nullptr) {
  asio::thread_pool blocking(2);
  auto verdict = runPipelineOn(blocking, pipeline, raw, env, outbound_only, observer);
  blocking.join();
  return verdict;
}

inline std::string fixture(const std::string& name) {
  return crlf(readFile(std::string(RELAYGUARD_FIXTURES_DIR) + "/eml/" + name));
}

// Rule ids of all findings with the given action, in order.
inline std::vector<std::string> rulesWith(const filters::Verdict& v, filters::Action a) {
  std::vector<std::string> out;
  for (const auto& s : v.stages) {
    for (const auto& f : s.findings) {
      if (f.action == a && !f.rule.empty()) {
        out.push_back(f.rule);
      }
    }
  }
  return out;
}

}  // namespace relayguard::test
