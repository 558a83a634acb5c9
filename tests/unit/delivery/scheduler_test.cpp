// scheduler_test: the delivery scheduler on a real spool, audit log and smart host (a scripted
// SMTP server on loopback). Delivery events are written to the audit log without waiting for
// the disk; with no mail arriving (no verdict sync to carry them), they are fdatasynced by the
// scheduler itself within Scheduler::kAuditSyncDelay.
#include "core/delivery/scheduler.hpp"

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_future.hpp>
#include <gtest/gtest.h>

#include "tests/support/scripted_smtp_server.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/zone_resolver.hpp"

namespace relayguard::delivery {
namespace {

using namespace std::chrono_literals;

template <class F>
bool waitFor(F&& done, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) {
      return false;
    }
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

TEST(Scheduler, DeliveryEventsAreSyncedSoonWhenNoMailArrives) {
  test::TempDir dir;
  test::ScriptedSmtpServer smart_host;
  Config config;
  config.hostname = "relay.unit.test";
  RouteConfig route;
  route.domains = {"*"};
  route.smart_hosts = {*net::Endpoint::parse(smart_host.address())};
  config.routes = {route};
  queue::Spool spool(dir.path() / "spool");
  AuditOptions audit_options;
  audit_options.dir = dir.path() / "audit";
  AuditLog audit(audit_options);
  asio::io_context io;
  asio::thread_pool blocking(2);
  test::ZoneResolver resolver;
  Scheduler scheduler(io, config, spool, audit, blocking, resolver);
  // Runs the io_context while the test body does, and stops the scheduler however it ends.
  struct Running {
    asio::io_context& io;
    Scheduler& scheduler;
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    std::thread runner{[this] { io.run(); }};
    ~Running() {
      asio::co_spawn(io, scheduler.stop(5s), asio::use_future).get();
      work.reset();
      io.stop();
      runner.join();
    }
  } running{io, scheduler};
  scheduler.start({});

  Envelope envelope;
  envelope.mail_from = *Address::parseMailbox("app@example.test");
  envelope.rcpt_to = {*Address::parseMailbox("user@ext.test")};
  envelope.received = SystemTime::clock::now();
  const std::string bytes = "Subject: synced\r\n\r\nhello\r\n";
  const queue::QueuedMessage message =
      queue::QueuedMessage::fromEnvelope(queue::QueueId::generate(), envelope, bytes.size());
  spool.commit(message, bytes);
  const std::uint64_t syncs_before = audit.syncs();
  scheduler.enqueue(message, bytes);

  ASSERT_TRUE(smart_host.waitForMessages(1, 10s));
  // Delivered, recorded (the spool no longer holds it) and its event written...
  ASSERT_TRUE(waitFor([&] { return !spool.exists(message.id); }, 5s));
  const auto recorded = std::chrono::steady_clock::now();
  // ...and made durable by an fdatasync nobody else asked for.
  EXPECT_TRUE(waitFor([&] { return audit.syncs() > syncs_before; }, 2s))
      << "the delivery event was never synced";
  EXPECT_LT(std::chrono::steady_clock::now() - recorded, Scheduler::kAuditSyncDelay + 900ms);
  std::string log;
  for (const auto& entry : std::filesystem::directory_iterator(audit_options.dir)) {
    std::ifstream in(entry.path());
    log.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  EXPECT_NE(log.find(message.id.str()), std::string::npos) << log;
}

}  // namespace
}  // namespace relayguard::delivery
