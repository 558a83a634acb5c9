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
#include <spdlog/spdlog.h>

#include "core/audit/audit_log.hpp"
#include "core/auth/authenticator.hpp"
#include "core/delivery/scheduler.hpp"
#include "core/net/tls_context.hpp"
#include "core/pickup/pickup_directory.hpp"
#include "core/quarantine/quarantine_store.hpp"
#include "core/queue/spool.hpp"
#include "core/server/control_commands.hpp"
#include "core/server/control_socket.hpp"
#include "core/server/message_acceptor.hpp"
#include "core/server/resolver_setup.hpp"
#include "core/smtp/connection_limiter.hpp"
#include "core/smtp/listener.hpp"
#include "core/util/blocking.hpp"
#include "core/util/file_lock.hpp"
#include "core/util/strings.hpp"

namespace relayguard {
namespace {

constexpr auto kUseTuple = asio::experimental::as_tuple(asio::use_awaitable);

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

// SIGHUP: re-reads the certificate and key from the configured files and swaps the new context
// in; sessions already in TLS keep theirs. A certificate that does not load is refused and the
// one in force stays.
asio::awaitable<void> reloadTls(const TlsConfig& tls, net::TlsContextSlot& slot,
                                asio::thread_pool& blocking) {
  try {
    auto fresh = co_await runBlocking(blocking, [&tls] { return net::makeServerTlsContext(tls); });
    slot.store(fresh);
    spdlog::info("TLS certificate reloaded from {}", tls.certificate.string());
  } catch (const std::exception& e) {
    spdlog::error("TLS certificate reload refused, the certificate in force stays: {}", e.what());
  }
}

}  // namespace

int runRelayServer(const Config& config, const ServeOptions& options) {
  std::signal(SIGPIPE, SIG_IGN);
  try {
    queue::Spool spool(config.spool_dir);
    // One relay per spool: an exclusive lock for the life of the process.
    FileLock lock(config.spool_dir / "relayguard.lock", FileLock::Mode::kTry,
                  "the spool is in use by another relayguard serve");
    auto recovered = spool.recover();

    QuarantineStore quarantine(config.spool_dir);
    PipelineSlot pipeline(filters::Pipeline::load(config.rules_dir));
    logPipeline(*pipeline.load(), "rules loaded");

    const AuditOptions audit_options = AuditOptions::fromConfig(config);
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
    net::TlsContextSlot tls_context;
    if (config.tls) {
      tls_context.store(net::makeServerTlsContext(*config.tls));
    }
    std::unique_ptr<auth::Authenticator> authenticator;
    if (!config.access.users_file.empty() || config.auth_ldap) {
      authenticator =
          std::make_unique<auth::Authenticator>(config.access, blocking, config.auth_ldap);
    }

    std::vector<std::unique_ptr<smtp::Listener>> listeners;
    for (const auto& l : config.listeners) {
      smtp::SessionSettings s;
      s.hostname = config.hostname;
      s.limits = config.limits;
      s.mode = l.mode;
      s.access = &config.access;
      s.routable = [&config](const Address& a) { return config.routeFor(a.domain()) != nullptr; };
      s.tls = config.tls ? &tls_context : nullptr;
      s.authenticator = authenticator.get();
      listeners.push_back(
          std::make_unique<smtp::Listener>(io, l.address, std::move(s), acceptor, limiter));
      listeners.back()->start();
    }
    std::unique_ptr<PickupDirectory> pickup;
    if (config.pickup) {
      pickup = std::make_unique<PickupDirectory>(io, config, *config.pickup, acceptor, blocking);
      pickup->start();
    }
    if (listeners.empty() && !pickup) {
      spdlog::warn("no [[listener]] configured: only delivering the queue");
    }

    QuarantineReview review(
        quarantine, spool, audit, [&pipeline] { return pipeline.load(); }, blocking,
        [&scheduler](queue::QueuedMessage m) { scheduler.enqueue(std::move(m)); });
    ControlCommands commands(&scheduler, review);
    ControlSocket control(io, config.spool_dir / "control.sock",
                          [&commands](const nlohmann::json& request, const ControlPeer& peer) {
                            return commands.handle(request, peer);
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
          if (config.tls) {
            asio::co_spawn(io, reloadTls(*config.tls, tls_context, blocking),
                           logFailure("TLS reload"));
          }
          if (authenticator) {
            asio::post(blocking, [&authenticator] { authenticator->reload(); });
          }
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
