// relay_server: wiring and lifecycle of `relayguard serve` (see relay_server.hpp).
#include "core/server/relay_server.hpp"

#include <csignal>
#include <iostream>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/audit/audit_log.hpp"
#include "core/delivery/scheduler.hpp"
#include "core/quarantine/quarantine_store.hpp"
#include "core/queue/spool.hpp"
#include "core/server/control_socket.hpp"
#include "core/server/message_acceptor.hpp"
#include "core/server/resolver_setup.hpp"
#include "core/smtp/connection_limiter.hpp"
#include "core/smtp/listener.hpp"
#include "core/util/blocking.hpp"
#include "core/util/strings.hpp"

namespace relayguard {
namespace {

constexpr auto kUseTuple = asio::experimental::as_tuple(asio::use_awaitable);

// Holds an exclusive flock on <spool>/relayguard.lock for the life of the process, so two
// relays never share a spool.
class SpoolLock {
 public:
  explicit SpoolLock(const std::filesystem::path& spool) {
    const auto path = spool / "relayguard.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0 || ::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      throw std::runtime_error(path.string() + ": the spool is in use by another relayguard serve");
    }
  }
  SpoolLock(const SpoolLock&) = delete;
  SpoolLock& operator=(const SpoolLock&) = delete;
  ~SpoolLock() { ::close(fd_); }

 private:
  int fd_ = -1;
};

void logPipeline(const filters::Pipeline& pipeline, std::string_view what) {
  std::string stages;
  for (const auto& name : pipeline.stageNames()) {
    stages += (stages.empty() ? "" : ",") + name;
  }
  spdlog::info("{}: stages=[{}] rules={}", what, stages, pipeline.rules().rules().size());
  for (const auto& w : pipeline.warnings()) {
    spdlog::warn("{}", w);
  }
}

// SIGHUP: builds a whole new pipeline from the rules directory on the blocking pool and swaps
// it in; a directory with any error is refused and the rules in force stay.
asio::awaitable<void> reloadRules(const std::filesystem::path& rules_dir, PipelineSlot& slot,
                                  asio::thread_pool& blocking) {
  spdlog::info("SIGHUP: reloading rules from {}", rules_dir.string());
  try {
    auto fresh =
        co_await runBlocking(blocking, [&rules_dir] { return filters::Pipeline::load(rules_dir); });
    slot.store(fresh);
    logPipeline(*fresh, "rules reloaded");
  } catch (const std::exception& e) {
    spdlog::error("rules reload refused, the previous rules stay in force: {}", e.what());
  }
}

}  // namespace

int runRelayServer(const Config& config, const ServeOptions& options) {
  std::signal(SIGPIPE, SIG_IGN);
  try {
    queue::Spool spool(config.spool_dir);
    SpoolLock lock(config.spool_dir);
    auto recovered = spool.recover();

    QuarantineStore quarantine(config.spool_dir);
    PipelineSlot pipeline(filters::Pipeline::load(config.rules_dir));
    logPipeline(*pipeline.load(), "rules loaded");

    AuditOptions audit_options;
    audit_options.dir = config.spool_dir / "audit";
    audit_options.max_file_bytes = config.audit.max_file_size;
    audit_options.anchor_key = config.audit.loadKey(config.spool_dir);
    audit_options.anchor_interval = config.audit.anchor_interval;
    AuditLog audit(audit_options);

    asio::io_context io;
    asio::thread_pool blocking(4);
    // One resolver (and so one DNS cache) for delivery and the filter stages.
    dns::UnboundResolver resolver(io.get_executor(), resolverOptions(config.dns));
    delivery::Scheduler scheduler(io, config, spool, audit, blocking, resolver);
    MessageAcceptor acceptor(
        config, spool, quarantine, pipeline, audit, blocking,
        [&scheduler](queue::QueuedMessage m) { scheduler.enqueue(std::move(m)); }, &resolver);
    // Keyed anchors also when idle, so a log that stops early shows as a stale last anchor.
    asio::steady_timer anchor_timer(io);
    std::function<void()> schedule_anchor = [&] {
      anchor_timer.expires_after(config.audit.anchor_interval);
      anchor_timer.async_wait([&](const std::error_code& ec) {
        if (ec) {
          return;
        }
        asio::post(blocking, [&audit] {
          try {
            audit.anchor();
          } catch (const std::exception& e) {
            spdlog::error("cannot write an audit anchor: {}", e.what());
          }
        });
        schedule_anchor();
      });
    };
    if (audit_options.anchor_key) {
      schedule_anchor();
    }
    ConnectionLimiter limiter(config.limits.max_connections, config.limits.max_connections_per_ip);

    std::vector<std::unique_ptr<smtp::Listener>> listeners;
    for (const auto& l : config.listeners) {
      smtp::SessionSettings s;
      s.hostname = config.hostname;
      s.limits = config.limits;
      s.mode = l.mode;
      s.access = &config.access;
      s.routable = [&config](const Address& a) { return config.routeFor(a.domain()) != nullptr; };
      listeners.push_back(
          std::make_unique<smtp::Listener>(io, l.address, std::move(s), acceptor, limiter));
      listeners.back()->start();
    }
    if (listeners.empty()) {
      spdlog::warn("no [[listener]] configured: only delivering the queue");
    }

    ControlSocket control(io, config.spool_dir / "control.sock",
                          [&scheduler](const std::string& req) -> asio::awaitable<std::string> {
                            const auto words = splitWhitespace(req);
                            if (words.size() == 1 && words[0] == "ping") {
                              co_return "ok";
                            }
                            if (words.size() == 1 && words[0] == "flush") {
                              scheduler.flush();
                              co_return "ok";
                            }
                            if (words.size() == 2 && words[0] == "delete") {
                              const auto id = queue::QueueId::parse(words[1]);
                              if (!id) {
                                co_return "error bad queue id";
                              }
                              const auto removed = co_await scheduler.remove(*id);
                              switch (removed) {
                                case delivery::Scheduler::RemoveResult::kRemoved:
                                  co_return "ok";
                                case delivery::Scheduler::RemoveResult::kBusy:
                                  co_return "error busy: being delivered, try again";
                                case delivery::Scheduler::RemoveResult::kNotFound:
                                  co_return "error not found";
                              }
                            }
                            co_return "error unknown request";
                          });
    control.start();
    scheduler.start(std::move(recovered));

    asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
    bool stopping = false;
    std::function<void()> wait_signal;
    wait_signal = [&] {
      signals.async_wait([&](const std::error_code& ec, int sig) {
        if (ec) {
          return;
        }
        if (sig == SIGHUP) {
          asio::co_spawn(io, reloadRules(config.rules_dir, pipeline, blocking),
                         logFailure("rules reload"));
          wait_signal();
          return;
        }
        if (stopping) {
          return;
        }
        stopping = true;
        spdlog::info("signal {}: stopping (grace {}s)", sig, options.shutdown_grace.count());
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
              for (auto& l : listeners) {
                l->stop();
              }
              control.stop();
              const auto deadline = std::chrono::steady_clock::now() + options.shutdown_grace;
              asio::steady_timer t(io);
              auto active = [&] {
                std::size_t n = 0;
                for (auto& l : listeners) {
                  n += l->activeSessions();
                }
                return n;
              };
              while (active() > 0 && std::chrono::steady_clock::now() < deadline) {
                t.expires_after(std::chrono::milliseconds(50));
                co_await t.async_wait(kUseTuple);
              }
              const auto left = deadline - std::chrono::steady_clock::now();
              co_await scheduler.stop(std::chrono::duration_cast<std::chrono::seconds>(
                  std::max(left, std::chrono::steady_clock::duration(std::chrono::seconds(1)))));
              signals.cancel();
              anchor_timer.cancel();
              io.stop();
            },
            asio::detached);
      });
    };
    wait_signal();

    spdlog::info("relayguard ready: hostname={} spool={}", config.hostname,
                 config.spool_dir.string());
    unsigned threads = options.io_threads;
    if (threads == 0) {
      threads = std::max(2U, std::thread::hardware_concurrency());
    }
    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i) {
      pool.emplace_back([&io] { io.run(); });
    }
    io.run();
    for (auto& t : pool) {
      t.join();
    }
    blocking.join();
    spdlog::info("relayguard stopped");
    return 0;
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";  // file:line:col: message, as `check` prints it
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
}

}  // namespace relayguard
