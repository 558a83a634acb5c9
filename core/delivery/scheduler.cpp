// scheduler: delivery scheduling, outcomes, retries and bounces (see scheduler.hpp).
#include "core/delivery/scheduler.hpp"

#include <limits>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "core/delivery/destination.hpp"
#include "core/delivery/dsn.hpp"
#include "core/util/blocking.hpp"
#include "core/util/log_event.hpp"
#include "core/util/strings.hpp"

namespace relayguard::delivery {
namespace {

constexpr std::size_t kNoRoute = std::numeric_limits<std::size_t>::max();
constexpr auto kUseTuple = asio::experimental::as_tuple(asio::use_awaitable);
// How many due-but-blocked entries one scheduling pass looks past before sleeping.
constexpr std::size_t kMaxScan = 1000;

ClientSettings clientSettings(const Config& config) {
  ClientSettings s;
  s.helo_name = config.hostname;
  s.connect_timeout = config.delivery.connect_timeout;
  s.command_timeout = config.delivery.command_timeout;
  s.data_timeout = config.delivery.command_timeout * 2;
  s.idle_reuse = config.delivery.idle_reuse;
  s.max_idle_per_endpoint = config.delivery.per_destination;
  return s;
}

nlohmann::json deliveryEvent(const queue::QueuedMessage& m, const queue::RecipientState& r,
                             std::string_view result) {
  return {{"time", rfc3339(std::chrono::system_clock::now())},
          {"event", "delivery"},
          {"queue_id", m.id.str()},
          {"mail_from", m.envelope.mail_from.str()},
          {"rcpt", r.address.str()},
          {"result", result},
          {"reply", r.last_reply},
          {"relay", r.remote},
          {"attempt", m.attempts + 1}};
}

std::string recipientList(const queue::QueuedMessage& m, const std::vector<std::size_t>& idx) {
  std::string out;
  for (std::size_t i : idx) {
    out += (out.empty() ? "" : ",") + m.recipients[i].address.bracketed();
  }
  return out;
}

}  // namespace

Scheduler::Scheduler(asio::io_context& io, const Config& config, queue::Spool& spool,
                     AuditLog& audit, asio::thread_pool& blocking, dns::Resolver& resolver,
                     metrics::RelayMetrics* metrics)
    : config_(config),
      spool_(spool),
      audit_(audit),
      blocking_(blocking),
      resolver_(resolver),
      strand_(asio::make_strand(io)),
      client_(std::make_unique<SmtpClient>(strand_, clientSettings(config))),
      wake_(strand_),
      metrics_(metrics),
      audit_sync_(strand_) {
  for (const auto& route : config.routes) {
    route_security_.push_back(RouteSecurity::fromRoute(route));
  }
}

Scheduler::~Scheduler() = default;

void Scheduler::start(std::vector<queue::QueuedMessage> recovered) {
  asio::post(strand_, [this, recovered = std::move(recovered)]() mutable {
    for (auto& m : recovered) {
      add(std::move(m));
    }
    log::info("queue_recovered", {{"messages", entries_.size()}});
    asio::co_spawn(strand_, loop(), logFailure("delivery scheduler"));
  });
}

void Scheduler::schedule(const queue::QueuedMessage& message) {
  due_.emplace(message.next_attempt, message.id);
}

void Scheduler::add(queue::QueuedMessage message, std::string bytes) {
  schedule(message);
  const queue::QueueId id = message.id;  // the key must not come from the moved-from record
  if (const auto old = entries_.find(id); old != entries_.end()) {
    forget(old);
  }
  arrivals_.insert(message.envelope.received);
  if (held_bytes_ + bytes.size() > kMaxHeldBytes) {
    bytes.clear();
  }
  held_bytes_ += bytes.size();
  entries_.emplace(id, Entry{std::move(message), false, std::move(bytes)});
  publish();
}

std::string Scheduler::takeBytes(Entry& entry) {
  held_bytes_ -= entry.bytes.size();
  return std::exchange(entry.bytes, {});
}

void Scheduler::forget(std::map<queue::QueueId, Entry>::iterator it) {
  if (const auto a = arrivals_.find(it->second.message.envelope.received); a != arrivals_.end()) {
    arrivals_.erase(a);
  }
  takeBytes(it->second);
  entries_.erase(it);
  publish();
}

void Scheduler::publish() {
  if (metrics_ == nullptr) {
    return;
  }
  metrics_->queueChanged(entries_.size(), arrivals_.empty()
                                              ? std::nullopt
                                              : std::optional<SystemTime>(*arrivals_.begin()));
  metrics_->deliveriesInFlight(in_flight_);
}

void Scheduler::outcome(std::vector<nlohmann::json>& events, const queue::QueuedMessage& message,
                        const queue::RecipientState& r, std::string_view result) {
  events.push_back(deliveryEvent(message, r, result));
  if (metrics_ != nullptr) {
    const RouteConfig* route = config_.routeFor(r.address.domain());
    metrics_->delivery(result, route ? route->name() : "none");
  }
}

void Scheduler::enqueue(queue::QueuedMessage message, std::string bytes) {
  asio::post(strand_, [this, message = std::move(message), bytes = std::move(bytes)]() mutable {
    add(std::move(message), std::move(bytes));
    wake_.cancel();
  });
}

void Scheduler::flush() {
  asio::post(strand_, [this] {
    due_.clear();
    const auto now = std::chrono::system_clock::now();
    for (auto& [id, e] : entries_) {
      if (!e.in_flight) {
        e.message.next_attempt = now;
        schedule(e.message);
      }
    }
    log::info("queue_flush", {{"due", due_.size()}});
    wake_.cancel();
  });
}

asio::awaitable<Scheduler::RemoveResult> Scheduler::remove(const queue::QueueId& id) {
  co_return co_await asio::co_spawn(
      strand_,
      [this, &id]() -> asio::awaitable<RemoveResult> {
        const auto it = entries_.find(id);
        if (it == entries_.end()) {
          co_return RemoveResult::kNotFound;
        }
        if (it->second.in_flight) {
          co_return RemoveResult::kBusy;
        }
        due_.erase({it->second.message.next_attempt, id});
        forget(it);
        co_await runBlocking(blocking_, [this, &id] { return spool_.remove(id); });
        log::info("removed", {{"id", id.str()}, {"by", "operator request"}});
        co_return RemoveResult::kRemoved;
      },
      asio::use_awaitable);
}

asio::awaitable<std::pair<std::size_t, std::size_t>> Scheduler::counts() {
  co_return co_await asio::co_spawn(
      strand_,
      [this]() -> asio::awaitable<std::pair<std::size_t, std::size_t>> {
        co_return std::make_pair(entries_.size(), in_flight_);
      },
      asio::use_awaitable);
}

asio::awaitable<void> Scheduler::stop(std::chrono::seconds grace) {
  co_await asio::co_spawn(
      strand_,
      [this, grace]() -> asio::awaitable<void> {
        stopping_ = true;
        wake_.cancel();
        const auto deadline = std::chrono::steady_clock::now() + grace;
        asio::steady_timer t(strand_);
        while (in_flight_ > 0 && std::chrono::steady_clock::now() < deadline) {
          t.expires_after(std::chrono::milliseconds(50));
          co_await t.async_wait(kUseTuple);
        }
        if (in_flight_ > 0) {
          log::warn("shutdown_in_flight",
                    {{"deliveries", in_flight_}, {"detail", "they stay queued"}});
        }
        co_await client_->closeIdle();
      },
      asio::use_awaitable);
}

std::set<std::size_t> Scheduler::routesOf(const queue::QueuedMessage& message) const {
  std::set<std::size_t> out;
  for (const auto& r : message.recipients) {
    if (r.status == queue::RecipientStatus::kPending) {
      const RouteConfig* route = config_.routeFor(r.address.domain());
      out.insert(route ? route->index : kNoRoute);
    }
  }
  return out;
}

bool Scheduler::hasCapacity(const std::set<std::size_t>& routes) const {
  for (std::size_t r : routes) {
    const auto it = route_in_flight_.find(r);
    if (r != kNoRoute && it != route_in_flight_.end() &&
        it->second >= config_.delivery.per_destination) {
      return false;
    }
  }
  return true;
}

bool Scheduler::allRoutesBusy() const {
  if (route_in_flight_.size() < config_.routes.size()) {
    return false;
  }
  for (const auto& route : config_.routes) {
    const auto it = route_in_flight_.find(route.index);
    if (it == route_in_flight_.end() || it->second < config_.delivery.per_destination) {
      return false;
    }
  }
  return true;
}

asio::awaitable<void> Scheduler::loop() {
  while (!stopping_) {
    const auto now = std::chrono::system_clock::now();
    log::debug("scheduler_pass", {{"due", due_.size()}, {"in_flight", in_flight_}});
    std::size_t scanned = 0;
    for (auto it = due_.begin(); it != due_.end() && it->first <= now &&
                                 in_flight_ < config_.delivery.concurrency && scanned < kMaxScan;) {
      const auto entry = entries_.find(it->second);
      if (entry == entries_.end() || entry->second.in_flight) {
        it = due_.erase(it);
        continue;
      }
      auto routes = routesOf(entry->second.message);
      if (!hasCapacity(routes)) {
        if (allRoutesBusy()) {
          break;  // nothing further down can start either: a finished delivery wakes us
        }
        ++it;
        ++scanned;
        continue;
      }
      it = due_.erase(it);
      entry->second.in_flight = true;
      ++in_flight_;
      publish();
      for (std::size_t r : routes) {
        ++route_in_flight_[r];
      }
      asio::co_spawn(strand_, deliver(entry->first, std::move(routes)), logFailure("delivery"));
    }
    // Sleep until the next message is due; enqueue(), flush() and finished deliveries wake us.
    const bool blocked = !due_.empty() && due_.begin()->first <= now;
    wake_.expires_at(blocked || due_.empty() ? now + std::chrono::hours(1) : due_.begin()->first);
    co_await wake_.async_wait(kUseTuple);
  }
}

asio::awaitable<void> Scheduler::deliver(queue::QueueId id, std::set<std::size_t> routes) {
  Entry& entry = entries_.at(id);
  queue::QueuedMessage message = entry.message;
  const std::string held = takeBytes(entry);
  log::debug(
      "attempt",
      {{"id", id.str()}, {"pending", message.pendingCount()}, {"attempts", message.attempts}});
  bool done = false;
  std::vector<nlohmann::json> events;
  try {
    // The bytes the acceptor handed over, else the spool's: a large message is mapped, not
    // read, so that it costs page cache while it is sent, not process memory.
    std::optional<queue::Spool::StoredMessage> stored;
    if (held.empty()) {
      stored = co_await runBlocking(blocking_, [this, &id] { return spool_.loadMessage(id); });
    }
    const PagedBytes data = stored ? stored->paged() : PagedBytes(held);
    // Group pending recipients by route (and by domain on MX routes); each group is one SMTP
    // transaction.
    std::map<std::pair<std::size_t, std::string>, std::vector<std::size_t>> groups;
    for (std::size_t i = 0; i < message.recipients.size(); ++i) {
      const auto& r = message.recipients[i];
      if (r.status == queue::RecipientStatus::kPending) {
        const RouteConfig* route = config_.routeFor(r.address.domain());
        const bool mx = route != nullptr && route->smart_hosts.empty();
        groups[{route ? route->index : kNoRoute, mx ? toLower(r.address.domain()) : ""}].push_back(
            i);
      }
    }
    for (const auto& [key, rcpts] : groups) {
      const std::size_t route_index = key.first;
      if (route_index == kNoRoute) {
        for (std::size_t i : rcpts) {
          auto& r = message.recipients[i];
          r.status = queue::RecipientStatus::kFailed;
          r.last_reply = "550 5.4.4 No route configured for domain " + r.address.domain();
          outcome(events, message, r, "failed");
        }
        continue;
      }
      co_await deliverGroup(message, data, config_.routes[route_index], key.second, rcpts, events);
    }
    // The connections are free again: the bookkeeping below (bounces, the spool, the audit log)
    // must not hold another message back from the destination.
    releaseRoutes(routes);
    ++message.attempts;
    const auto now = std::chrono::system_clock::now();
    if (message.pendingCount() > 0 && now - message.envelope.received >= config_.delivery.max_age) {
      for (auto& r : message.recipients) {
        if (r.status == queue::RecipientStatus::kPending) {
          r.status = queue::RecipientStatus::kFailed;
          r.last_reply = "expired after " + std::to_string(message.attempts) +
                         " attempt(s); last error: " +
                         (r.last_reply.empty() ? message.last_error : r.last_reply);
          outcome(events, message, r, "expired");
        }
      }
      log::warn("expired", {{"id", id.str()}, {"reason", "age exceeds max_age"}});
    }
    co_await bounce(message, data.data, events);
    done = message.pendingCount() == 0;
    message.next_attempt = now + config_.delivery.retryDelay(message.attempts);
    co_await record(message, done, events);
  } catch (const queue::CorruptMessage& e) {
    // Its bytes are not those it was stored with (a crash before the sync that would have made
    // them durable, so the client was never told 250, or a failing disk): the spool has moved
    // it to corrupt/ for inspection, as Postfix does; retrying cannot help.
    log::error("message_corrupt", {{"id", id.str()}, {"error", e.what()}});
    done = true;
  } catch (const std::exception& e) {
    // The spool could not be read or written (deleted underneath us, disk trouble): keep the
    // message as it was and try again later.
    log::error("delivery_failed_locally", {{"id", id.str()}, {"error", e.what()}});
    message.next_attempt =
        std::chrono::system_clock::now() + config_.delivery.retryDelay(message.attempts + 1);
  }
  const auto it = entries_.find(id);
  if (it != entries_.end()) {
    if (done) {
      forget(it);
    } else {
      it->second.message = std::move(message);
      it->second.in_flight = false;
      schedule(it->second.message);
    }
  }
  releaseRoutes(routes);  // when an exception came first
  --in_flight_;
  publish();
  wake_.cancel();
}

void Scheduler::releaseRoutes(std::set<std::size_t>& routes) {
  for (std::size_t r : routes) {
    if (--route_in_flight_[r] == 0) {
      route_in_flight_.erase(r);
    }
  }
  if (!routes.empty()) {
    routes.clear();
    wake_.cancel();
  }
}

asio::awaitable<void> Scheduler::deliverGroup(queue::QueuedMessage& message, const PagedBytes& data,
                                              const RouteConfig& route, const std::string& domain,
                                              const std::vector<std::size_t>& rcpts,
                                              std::vector<nlohmann::json>& events) {
  const NextHops hops = co_await nextHops(route, domain, resolver_, config_.delivery);
  OutboundMessage out;
  out.mail_from = message.envelope.mail_from;
  out.data = data;
  out.smtputf8 = message.envelope.smtputf8;
  out.body_8bit = message.envelope.body_8bit;
  for (std::size_t i : rcpts) {
    out.recipients.push_back(message.recipients[i].address);
  }
  AttemptResult result;
  if (hops.error) {
    result.session_error = hops.error;  // null MX, no such domain, DNS failure
    log::info("no_next_hop", {{"id", message.id.str()},
                              {"to", recipientList(message, rcpts)},
                              {"reply", hops.error->oneLine()}});
  } else {
    log::debug("next_hops", {{"id", message.id.str()}, {"via", hops.via}});
  }
  for (const auto& host : hops.endpoints) {
    log::debug("connecting", {{"id", message.id.str()}, {"relay", host.toString()}});
    result = co_await client_->deliver(host, out, route_security_.at(route.index));
    if (!(result.session_error && result.try_next_host)) {
      break;
    }
    log::info("next_hop_unavailable", {{"id", message.id.str()},
                                       {"relay", host.toString()},
                                       {"reply", result.session_error->oneLine()}});
  }
  for (std::size_t k = 0; k < rcpts.size(); ++k) {
    auto& r = message.recipients[rcpts[k]];
    const smtp::Reply reply = result.session_error ? *result.session_error
                              : k < result.recipient_replies.size()
                                  ? result.recipient_replies[k]
                                  : smtp::Reply{451, "4.3.0", "no reply for this recipient"};
    r.last_reply = reply.oneLine();
    r.remote = result.remote;
    const char* what = reply.positive() ? "delivered" : reply.permanent() ? "failed" : "deferred";
    outcome(events, message, r, what);
    if (reply.positive()) {
      r.status = queue::RecipientStatus::kDelivered;
    } else if (reply.permanent()) {
      r.status = queue::RecipientStatus::kFailed;
    } else {
      message.last_error = r.last_reply;
    }
    log::write(reply.permanent() ? spdlog::level::warn : spdlog::level::info, what,
               {{"id", message.id.str()},
                {"to", r.address.bracketed()},
                {"relay", result.remote},
                {"reply", r.last_reply}});
  }
}

asio::awaitable<void> Scheduler::bounce(queue::QueuedMessage& message, std::string_view data,
                                        std::vector<nlohmann::json>& events) {
  std::vector<BouncedRecipient> failed;
  for (auto& r : message.recipients) {
    if (r.status == queue::RecipientStatus::kFailed && !r.bounced) {
      const bool expired = r.last_reply.starts_with("expired");
      failed.push_back(BouncedRecipient{r.address, r.last_reply, r.remote, expired});
    }
  }
  if (failed.empty()) {
    co_return;
  }
  nlohmann::json failed_rcpts = nlohmann::json::array();
  for (const auto& f : failed) {
    failed_rcpts.push_back(f.address.str());
  }
  nlohmann::json event = {{"time", rfc3339(std::chrono::system_clock::now())},
                          {"event", "bounce"},
                          {"queue_id", message.id.str()},
                          {"mail_from", message.envelope.mail_from.str()},
                          {"rcpt_to", failed_rcpts}};
  if (metrics_ != nullptr) {
    metrics_->bounce(!message.envelope.mail_from.isNull());
  }
  if (message.envelope.mail_from.isNull()) {
    event["dropped"] = true;
    // Never bounce a bounce (RFC 5321 6.1, 3.6.3): log and drop.
    log::warn(
        "bounce_dropped",
        {{"id", message.id.str()}, {"failed", failed.size()}, {"reason", "the sender is null"}});
  } else {
    Envelope env;
    env.rcpt_to = {message.envelope.mail_from};
    env.received = std::chrono::system_clock::now();
    env.helo = config_.hostname;
    env.client_ip = "127.0.0.1";
    auto dsn_id = queue::QueueId::generate();
    DsnInput in;
    in.reporting_host = config_.hostname;
    in.queue_id = message.id.str();
    in.original_sender = message.envelope.mail_from;
    in.arrival = message.envelope.received;
    in.recipients = std::move(failed);
    in.original_message = data;
    in.message_id = dsn_id.str() + "@" + config_.hostname;
    in.now = env.received;
    const std::string dsn = buildDsn(in);
    auto record = queue::QueuedMessage::fromEnvelope(dsn_id, env, dsn.size());
    co_await runBlocking(blocking_, [this, &record, &dsn] { spool_.commit(record, dsn); });
    event["dsn_queue_id"] = dsn_id.str();
    log::info("bounce", {{"id", dsn_id.str()},
                         {"for", message.id.str()},
                         {"to", message.envelope.mail_from.bracketed()}});
    add(std::move(record));
  }
  events.push_back(std::move(event));
  for (auto& r : message.recipients) {
    if (r.status == queue::RecipientStatus::kFailed) {
      r.bounced = true;
    }
  }
}

asio::awaitable<void> Scheduler::record(const queue::QueuedMessage& message, bool done,
                                        std::vector<nlohmann::json>& events) {
  co_await runBlocking(blocking_, [this, &message, done, &events] {
    if (done) {
      spool_.retire(message);
    } else {
      spool_.update(message);
    }
    try {
      for (auto& e : events) {
        audit_.write(std::move(e));
      }
    } catch (const std::exception& e) {
      log::error("audit_write_failed", {{"error", e.what()}, {"what", "delivery events"}});
    }
  });
  if (!events.empty()) {
    syncAuditSoon();
  }
  if (done) {
    log::info("done", {{"id", message.id.str()}, {"attempts", message.attempts}});
  }
}

void Scheduler::syncAuditSoon() {
  if (audit_sync_armed_) {
    return;  // the sync already planned covers these events too
  }
  audit_sync_armed_ = true;
  audit_sync_.expires_after(kAuditSyncDelay);
  audit_sync_.async_wait([this](const std::error_code&) {
    audit_sync_armed_ = false;
    asio::post(blocking_, [&audit = audit_] {
      try {
        audit.syncWritten();
      } catch (const std::exception& e) {
        log::error("audit_write_failed", {{"error", e.what()}, {"what", "delivery events"}});
      }
    });
  });
}

}  // namespace relayguard::delivery
