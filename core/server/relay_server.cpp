// relay_server: wiring and lifecycle of `relayguard serve` (see relay_server.hpp).
#include "core/server/relay_server.hpp"

#include <algorithm>
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

#include "core/audit/audit_log.hpp"
#include "core/auth/authenticator.hpp"
#include "core/delivery/scheduler.hpp"
#include "core/metrics/relay_metrics.hpp"
#include "core/net/tls_context.hpp"
#include "core/pickup/pickup_directory.hpp"
#include "core/quarantine/quarantine_store.hpp"
#include "core/queue/spool.hpp"
#include "core/server/admin_server.hpp"
#include "core/server/control_commands.hpp"
#include "core/server/control_socket.hpp"
#include "core/server/message_acceptor.hpp"
#include "core/server/pipeline_gauges.hpp"
#include "core/server/privileges.hpp"
#include "core/server/resolver_setup.hpp"
#include "core/server/service_notify.hpp"
#include "core/smtp/connection_limiter.hpp"
#include "core/smtp/listener.hpp"
#include "core/util/blocking.hpp"
#include "core/util/file_lock.hpp"
#include "core/util/log_event.hpp"
#include "core/util/malloc_tuning.hpp"
#include "core/util/strings.hpp"

namespace relayguard {
namespace {

constexpr auto kUseTuple = asio::experimental::as_tuple(asio::use_awaitable);

void logPipeline(const filters::Pipeline& pipeline, std::string_view event) {
  std::string stages;
  for (const auto& name : pipeline.stageNames()) {
    stages += (stages.empty() ? "" : ",") + name;
  }
  log::info(event, {{"stages", stages}, {"rules", pipeline.rules().rules().size()}});
  for (const auto& w : pipeline.warnings()) {
    log::warn("rules_warning", {{"warning", w}});
  }
}

// SIGHUP: builds a whole new pipeline from the rules directory on the blocking pool and swaps
// it in; a directory with any error is refused and the rules in force stay.
asio::awaitable<void> reloadRules(const std::filesystem::path& rules_dir, PipelineSlot& slot,
                                  asio::thread_pool& blocking, metrics::RelayMetrics& metrics) {
  log::info("rules_reloading", {{"dir", rules_dir.string()}});
  try {
    auto fresh =
        co_await runBlocking(blocking, [&rules_dir] { return filters::Pipeline::load(rules_dir); });
    slot.store(fresh);
    logPipeline(*fresh, "rules_reloaded");
    metrics.rulesReload(true);
  } catch (const std::exception& e) {
    log::error("rules_reload_refused",
               {{"error", e.what()}, {"detail", "the previous rules stay in force"}});
    metrics.rulesReload(false);
  }
}

// The [admin] listener: /metrics renders the registry, /healthz checks the spool and the
// pipeline in force (503 from the moment the relay starts stopping, so a load balancer drains
// it).
std::unique_ptr<AdminServer> makeAdminServer(const Config& config, metrics::RelayMetrics& metrics,
                                             const PipelineSlot& pipeline,
                                             const std::atomic<bool>& stopping) {
  if (!config.admin) {
    return nullptr;
  }
  AdminServer::Handlers handlers;
  handlers.metrics = [&metrics] { return metrics.registry().render(); };
  handlers.health = [&config, &pipeline, &stopping] {
    const auto p = pipeline.load();
    HealthReport report = checkHealth(config.spool_dir, p.get());
    if (stopping.load()) {
      report.problems.insert(report.problems.begin(), "shutting down");
    }
    return report;
  };
  return std::make_unique<AdminServer>(config.admin->address, std::move(handlers));
}

// SIGHUP: re-reads the certificate and key from the configured files and swaps the new context
// in; sessions already in TLS keep theirs. A certificate that does not load is refused and the
// one in force stays.
asio::awaitable<void> reloadTls(const TlsConfig& tls, net::TlsContextSlot& slot,
                                asio::thread_pool& blocking) {
  try {
    auto fresh = co_await runBlocking(blocking, [&tls] { return net::makeServerTlsContext(tls); });
    slot.store(fresh);
    log::info("tls_certificate_reloaded", {{"file", tls.certificate.string()}});
  } catch (const std::exception& e) {
    log::error("tls_certificate_reload_refused",
               {{"error", e.what()}, {"detail", "the certificate in force stays"}});
  }
}

}  // namespace

int runRelayServer(const Config& config, const ServeOptions& options) {
  std::signal(SIGPIPE, SIG_IGN);
  const std::string_view malloc_tuning = tuneMallocForServer();  // before any thread starts
  try {
    asio::io_context io;
    metrics::RelayMetrics relay_metrics;
    std::atomic<bool> shutting_down{false};
    PipelineSlot pipeline;  // loaded below; until then /healthz reports it as not loaded
    // Start-up, step 1: everything that binds a socket, while serve may still be root (port 25).
    // Step 2: root (or the unit's capabilities) is given up for good, before any thread starts
    // and before the spool is touched, so all that follows runs as [service] user.
    std::vector<asio::ip::tcp::acceptor> bound;
    for (const auto& l : config.listeners) {
      bound.push_back(smtp::bindListener(io, l.address));
    }
    // A taken admin port stops start-up before any mail comes; it serves once all is loaded.
    const auto admin = makeAdminServer(config, relay_metrics, pipeline, shutting_down);
    if (admin) {
      admin->bind();
    }
    dropPrivileges(config.service);
    checkSpoolAccess(config.spool_dir);

    queue::Spool spool(config.spool_dir);
    // One relay per spool: an exclusive lock for the life of the process.
    FileLock lock(config.spool_dir / "relayguard.lock", FileLock::Mode::kTry,
                  "the spool is in use by another relayguard serve");
    auto recovered = spool.recover();

    QuarantineStore quarantine(config.spool_dir);
    pipeline.store(filters::Pipeline::load(config.rules_dir));
    logPipeline(*pipeline.load(), "rules_loaded");
    registerPipelineGauges(relay_metrics.registry(), pipeline);

    const AuditOptions audit_options = AuditOptions::fromConfig(config);
    AuditLog audit(audit_options);

    // Filter stages (CPU) and spool commits (mostly waiting in fdatasync) share this pool: twice
    // the cores, at least 8, so that commits waiting on the disk do not hold scans back (8 threads
    // relayed about 8% more than 4 on 2 cores with the full pipeline, 16 about 10% less).
    asio::thread_pool blocking(std::max(8U, 2 * std::thread::hardware_concurrency()));
    // One resolver (and so one DNS cache) for delivery and the filter stages.
    dns::UnboundResolver resolver(io.get_executor(), resolverOptions(config.dns));
    delivery::Scheduler scheduler(io, config, spool, audit, blocking, resolver, &relay_metrics);
    MessageAcceptor acceptor(
        config, spool, quarantine, pipeline, audit, blocking,
        [&scheduler](queue::QueuedMessage m, std::string bytes) {
          scheduler.enqueue(std::move(m), std::move(bytes));
        },
        &resolver, &relay_metrics);
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
            log::error("audit_anchor_failed", {{"error", e.what()}});
          }
        });
        schedule_anchor();
      });
    };
    if (audit_options.anchor_key) {
      schedule_anchor();
    }
    ConnectionLimiter limiter(config.limits.max_connections, config.limits.max_connections_per_ip);
    net::TlsContextSlot tls_context;
    if (config.tls) {
      tls_context.store(net::makeServerTlsContext(*config.tls));
    }
    std::unique_ptr<auth::Authenticator> authenticator;
    if (!config.access.users_file.empty() || config.auth_ldap) {
      authenticator =
          std::make_unique<auth::Authenticator>(config.access, blocking, config.auth_ldap);
    }

    if (admin) {
      admin->start();
    }
    std::vector<std::unique_ptr<smtp::Listener>> listeners;
    for (std::size_t i = 0; i < config.listeners.size(); ++i) {
      const auto& l = config.listeners[i];
      smtp::SessionSettings s;
      s.hostname = config.hostname;
      s.limits = config.limits;
      s.mode = l.mode;
      s.spill_dir = spool.tmpDir();
      s.access = &config.access;
      s.routable = [&config](const Address& a) { return config.routeFor(a.domain()) != nullptr; };
      s.tls = config.tls ? &tls_context : nullptr;
      s.authenticator = authenticator.get();
      s.metrics = &relay_metrics;
      listeners.push_back(std::make_unique<smtp::Listener>(io, l.address, std::move(s), acceptor,
                                                           limiter, std::move(bound[i])));
      if (l.proxy_protocol) {
        listeners.back()->requireProxyHeader(l.proxy_from);
      }
      listeners.back()->start();
    }
    std::unique_ptr<PickupDirectory> pickup;
    if (config.pickup) {
      pickup = std::make_unique<PickupDirectory>(io, config, *config.pickup, acceptor, blocking);
      pickup->start();
    }
    if (listeners.empty() && !pickup) {
      log::warn("no_listener",
                {{"detail", "no [[listener]] configured: only delivering the queue"}});
    }

    QuarantineReview review(
        quarantine, spool, audit, [&pipeline] { return pipeline.load(); }, blocking,
        [&scheduler](queue::QueuedMessage m) { scheduler.enqueue(std::move(m)); });
    ControlCommands commands(&scheduler, review);
    ControlSocket control(io, config.spool_dir / "control.sock",
                          [&commands](const nlohmann::json& request, const ControlPeer& peer) {
                            return commands.handle(request, peer);
                          });
    review.finishInterruptedReleases();  // before anything is delivered
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
          service::notifyReloading();
          asio::co_spawn(
              io,
              [&]() -> asio::awaitable<void> {
                co_await reloadRules(config.rules_dir, pipeline, blocking, relay_metrics);
                if (config.tls) {
                  co_await reloadTls(*config.tls, tls_context, blocking);
                }
                if (authenticator) {
                  co_await runBlocking(blocking, [&authenticator] { authenticator->reload(); });
                }
                service::notifyReady("reloaded");
              },
              logFailure("reload"));
          wait_signal();
          return;
        }
        if (stopping) {
          return;
        }
        stopping = true;
        shutting_down.store(true);
        service::notifyStopping();
        log::info("stopping", {{"signal", sig}, {"grace_seconds", options.shutdown_grace.count()}});
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
              for (auto& l : listeners) {
                l->stop();
              }
              control.stop();
              if (pickup) {
                pickup->stop();
              }
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

    log::info("ready", {{"hostname", config.hostname},
                        {"spool", config.spool_dir.string()},
                        {"malloc", malloc_tuning}});
    service::notifyReady("ready");
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
    log::info("stopped");
    return 0;
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";  // file:line:col: message, as `check` prints it
    return 1;
  } catch (const std::exception& e) {
    log::error("startup_failed", {{"error", e.what()}});
    return 1;
  }
}

}  // namespace relayguard
