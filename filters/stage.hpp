// stage: the contract every filter stage implements. Read this file first.
//
// Called by: Pipeline::run(), once per message, after DATA and before the SMTP reply.
// Trust:     everything in the MessageView came from the network and is attacker-controlled.
// Rules:     a stage returns what it found as a StageResult; expected outcomes (a virus, a
//            matching rule, SPF fail) are values, never exceptions. An exception escaping run()
//            means the stage could not do its job: the pipeline applies the stage's on_error.
//            A stage never blocks an I/O thread: CPU- or I/O-heavy work goes to ctx.blocking.
//            A stage that only computes or reads local files derives from BlockingStage (below)
//            and implements evaluate(); one that waits on the network implements run().
// Stages are immutable after construction and shared by every message using the same
// generation of rules (a SIGHUP reload builds new ones).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>

#include "core/message/message_view.hpp"
#include "core/util/blocking.hpp"
#include "dns/resolver.hpp"

namespace relayguard::filters {

// Ordered by strength: the verdict of a message is its strongest stage result.
enum class Action { kAccept, kTag, kQuarantine, kTempfail, kReject };

std::string_view toString(Action a);
Action strongest(Action a, Action b);

struct Finding {
  std::string stage;   // stage type, e.g. "attachments"
  std::string rule;    // rule id, or empty (a stage's own finding, e.g. a MIME problem)
  std::string detail;  // what matched: a file name, a URL, a virus name
  Action action = Action::kAccept;
};

struct HeaderField {
  std::string name;
  std::string value;
};

struct StageResult {
  Action action = Action::kAccept;
  std::vector<Finding> findings;         // what matched and why: goes to the audit record
  std::vector<HeaderField> add_headers;  // e.g. X-Relayguard-Tag, DKIM-Signature
};

// Receives each stage's running time (Pipeline::run). Called on whatever thread ran the stage.
class StageObserver {
 public:
  virtual ~StageObserver() = default;
  virtual void stageDone(std::string_view stage, std::chrono::steady_clock::duration took) = 0;
};

// The process's shared services a stage may use while it runs. Built by whoever runs the
// pipeline (the SMTP server, `rules test`); the members after `blocking` may be absent (a
// stage that needs one and finds nullptr throws, so its on_error applies).
struct StageContext {
  explicit StageContext(asio::thread_pool& pool, dns::Resolver* dns = nullptr,
                        std::string_view our_hostname = {})
      : blocking(pool), resolver(dns), hostname(our_hostname) {}
  asio::thread_pool& blocking;
  dns::Resolver* resolver;    // the program's resolver (dns/), shared cache
  std::string_view hostname;  // our own EHLO name (Config::hostname)
  // Told by the pipeline after each stage how long it ran (the relay's stage latency metrics);
  // nullptr: nobody is timing.
  StageObserver* observer = nullptr;
};

// kVerdict stages judge a message (antivirus, rules, SPF). kOutbound stages prepare an accepted
// message for the outside world (DKIM signing): they run after every verdict stage, only when
// the verdict so far is accept or tag, and again on a quarantine release (Pipeline::runOutbound).
enum class Phase { kVerdict, kOutbound };

class BlockingStage;

class Stage {
 public:
  virtual ~Stage() = default;
  virtual std::string_view name() const = 0;
  virtual Phase phase() const { return Phase::kVerdict; }
  virtual asio::awaitable<StageResult> run(const MessageView& message, StageContext& ctx) const = 0;
  // The stage as a BlockingStage, or nullptr when it is not one.
  virtual const BlockingStage* blocking() const { return nullptr; }
};

// A stage whose whole work is computation or local file access, with no waiting on the network
// (antivirus, the rule stages, DKIM signing): it implements evaluate(), which runs on a thread of
// ctx.blocking. The pipeline runs consecutive blocking stages in one trip to the pool, so that a
// message pays one thread handoff for all of them rather than one each.
class BlockingStage : public Stage {
 public:
  // Called on a blocking-pool thread. Same contract as run(): findings are values, an exception
  // means the stage could not do its job.
  virtual StageResult evaluate(const MessageView& message, StageContext& ctx) const = 0;
  // evaluate() alone, in a trip of its own.
  asio::awaitable<StageResult> run(const MessageView& message, StageContext& ctx) const final {
    co_return co_await runBlocking(ctx.blocking,
                                   [this, &message, &ctx] { return evaluate(message, ctx); });
  }
  const BlockingStage* blocking() const final { return this; }
};

}  // namespace relayguard::filters
