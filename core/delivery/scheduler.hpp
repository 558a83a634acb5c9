// scheduler: the delivery side of the relay (Postfix's qmgr + smtp in one object).
//
// It holds the in-memory index of the spool (one Entry per queued message), starts deliveries
// when messages are due, within [delivery] concurrency (in total) and per_destination (per
// route), and records each outcome per recipient: 2xx delivered, 4xx or no answer retried on the
// [delivery] retry schedule, 5xx failed. Failed recipients of a message with a sender get one
// DSN (dsn.hpp), queued like any message; a message older than max_age bounces whatever is
// still pending. A message leaves the spool when no recipient is pending.
//
// All state lives on one strand; deliveries are coroutines on that strand whose network waits
// interleave. File work (reading the message, fsyncing state) runs on the blocking pool.
//
// A message's first attempt usually needs no file read: enqueue() takes the bytes the acceptor
// has just stored, and the entry keeps them until that attempt, within kMaxHeldBytes for all
// entries together (past that, and for every later attempt, the message is read from the spool).
// Delivery events go to the audit log without waiting for the disk: nobody is answered on them.
// They are synced by the next verdict's sync or, when no mail is arriving, kAuditSyncDelay after
// they were written; a crash of the machine (not of the relay) within that time can lose them,
// as it can lose the removal of the delivered message, which is then delivered again.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/system_timer.hpp>
#include <asio/thread_pool.hpp>

#include "core/audit/audit_log.hpp"
#include "core/config/config.hpp"
#include "core/delivery/smtp_client.hpp"
#include "core/metrics/relay_metrics.hpp"
#include "core/queue/spool.hpp"
#include "dns/resolver.hpp"

namespace relayguard::delivery {

class Scheduler {
 public:
  enum class RemoveResult { kRemoved, kNotFound, kBusy };

  // The resolver finds MX hosts for routes without smart_hosts. `metrics` (optional) gets every
  // delivery outcome and bounce, the queue size and age, and the deliveries in flight.
  Scheduler(asio::io_context& io, const Config& config, queue::Spool& spool, AuditLog& audit,
            asio::thread_pool& blocking, dns::Resolver& resolver,
            metrics::RelayMetrics* metrics = nullptr);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Takes over the recovered queue and starts the delivery loop.
  void start(std::vector<queue::QueuedMessage> recovered);
  // Thread-safe: a newly committed message, with the bytes stored after its record line when
  // the caller has them (else empty: they are read from the spool).
  void enqueue(queue::QueuedMessage message, std::string bytes = {});
  // What the entries may hold of message bytes in all, and how long delivery events may wait
  // for an fdatasync of the audit log.
  static constexpr std::size_t kMaxHeldBytes = 32 << 20;
  static constexpr std::chrono::milliseconds kAuditSyncDelay{100};
  // Thread-safe: every message not being delivered becomes due now.
  void flush();
  // Removes a message unless it is being delivered right now.
  asio::awaitable<RemoveResult> remove(const queue::QueueId& id);
  // Stops starting deliveries and waits up to `grace` for those in flight. Whatever is still
  // in flight afterwards stays in the spool with its last recorded state.
  asio::awaitable<void> stop(std::chrono::seconds grace);
  // For tests and status: messages known, deliveries in flight.
  asio::awaitable<std::pair<std::size_t, std::size_t>> counts();

 private:
  struct Entry {
    queue::QueuedMessage message;
    bool in_flight = false;
    std::string bytes;  // as stored, for the next attempt; empty: read them from the spool
  };
  using Strand = asio::strand<asio::io_context::executor_type>;

  asio::awaitable<void> loop();
  void schedule(const queue::QueuedMessage& message);
  // Adds a message to the index and the due set, keeping `bytes` if they fit (strand only).
  void add(queue::QueuedMessage message, std::string bytes = {});
  // Takes the bytes an entry holds (empty if none), accounting for them (strand only).
  std::string takeBytes(Entry& entry);
  // Makes the audit log's delivery events durable within kAuditSyncDelay (strand only).
  void syncAuditSoon();
  // Drops an entry from the index (strand only).
  void forget(std::map<queue::QueueId, Entry>::iterator it);
  // Tells the metrics the queue's size and oldest arrival, and the deliveries in flight.
  void publish();
  // Records one recipient's outcome: the audit event and the metric.
  void outcome(std::vector<nlohmann::json>& events, const queue::QueuedMessage& message,
               const queue::RecipientState& r, std::string_view result);
  // Route indexes the pending recipients need; SIZE_MAX for "no route".
  std::set<std::size_t> routesOf(const queue::QueuedMessage& message) const;
  bool hasCapacity(const std::set<std::size_t>& routes) const;
  // Every configured route at its per_destination limit: no further due entry can start.
  bool allRoutesBusy() const;
  asio::awaitable<void> deliver(queue::QueueId id, std::set<std::size_t> routes);
  // Gives a delivery's route slots back (once: it empties `routes`) and wakes the loop.
  void releaseRoutes(std::set<std::size_t>& routes);
  asio::awaitable<void> deliverGroup(queue::QueuedMessage& message, const PagedBytes& data,
                                     const RouteConfig& route, const std::string& domain,
                                     const std::vector<std::size_t>& rcpts,
                                     std::vector<nlohmann::json>& events);
  asio::awaitable<void> bounce(queue::QueuedMessage& message, std::string_view data,
                               std::vector<nlohmann::json>& events);
  // Records an attempt's outcome in one trip to the blocking pool: the spool first (removal, or
  // the new delivery state; an error throws and the message stays as it was), then the delivery
  // and bounce events in the audit log (an error there is logged, not fatal: what happened on
  // the wire cannot be undone).
  asio::awaitable<void> record(const queue::QueuedMessage& message, bool done,
                               std::vector<nlohmann::json>& events);

  const Config& config_;
  queue::Spool& spool_;
  AuditLog& audit_;
  asio::thread_pool& blocking_;
  dns::Resolver& resolver_;
  Strand strand_;
  std::unique_ptr<SmtpClient> client_;
  std::vector<std::shared_ptr<const RouteSecurity>> route_security_;  // by route index
  asio::system_timer wake_;
  metrics::RelayMetrics* metrics_;
  std::map<queue::QueueId, Entry> entries_;
  std::multiset<SystemTime> arrivals_;  // the entries' arrival times, oldest first
  std::set<std::pair<SystemTime, queue::QueueId>> due_;
  std::map<std::size_t, std::size_t> route_in_flight_;
  std::size_t in_flight_ = 0;
  std::size_t held_bytes_ = 0;  // the entries' bytes together
  asio::steady_timer audit_sync_;
  bool audit_sync_armed_ = false;
  bool stopping_ = false;
};

}  // namespace relayguard::delivery
