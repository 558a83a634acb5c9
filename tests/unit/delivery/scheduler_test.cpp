// scheduler_test: the delivery scheduler on a real spool, audit log and smart host (a scripted
// SMTP server on loopback). Delivery events are written to the audit log without waiting for
// the disk; with no mail arriving (no verdict sync to carry them), they are fdatasynced by the
// scheduler itself within Scheduler::kAuditSyncDelay. A message whose bytes fail their checksum
// is dropped rather than retried.
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

#include "core/util/durable_file.hpp"
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

// A scheduler on a real spool and audit log in a temporary folder, delivering everything to a
// scripted smart host, its io_context run by a thread until the harness goes.
Config routeAllTo(const test::ScriptedSmtpServer& smart_host) {
  Config config;
  config.hostname = "relay.unit.test";
  RouteConfig route;
  route.domains = {"*"};
  route.smart_hosts = {*net::Endpoint::parse(smart_host.address())};
  config.routes = {route};
  return config;
}

AuditOptions auditIn(const test::TempDir& dir) {
  AuditOptions options;
  options.dir = dir.path() / "audit";
  return options;
}

struct Harness {
  ~Harness() {
    asio::co_spawn(io, scheduler.stop(5s), asio::use_future).get();
    work.reset();
    io.stop();
    runner.join();
  }
  queue::QueuedMessage message(const std::string& bytes) const {
    Envelope envelope;
    envelope.mail_from = *Address::parseMailbox("app@example.test");
    envelope.rcpt_to = {*Address::parseMailbox("user@ext.test")};
    envelope.received = SystemTime::clock::now();
    return queue::QueuedMessage::fromEnvelope(queue::QueueId::generate(), envelope, bytes.size());
  }
  std::size_t known() {
    return asio::co_spawn(io, scheduler.counts(), asio::use_future).get().first;
  }

  test::TempDir dir;
  test::ScriptedSmtpServer smart_host;
  Config config = routeAllTo(smart_host);
  queue::Spool spool{dir.path() / "spool"};
  AuditOptions audit_options = auditIn(dir);
  AuditLog audit{audit_options};
  asio::io_context io;
  asio::thread_pool blocking{2};
  test::ZoneResolver resolver;
  Scheduler scheduler{io, config, spool, audit, blocking, resolver};
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::thread runner{[this] { io.run(); }};
};

TEST(Scheduler, DeliveryEventsAreSyncedSoonWhenNoMailArrives) {
  Harness h;
  h.scheduler.start({});
  const std::string bytes = "Subject: synced\r\n\r\nhello\r\n";
  const queue::QueuedMessage message = h.message(bytes);
  h.spool.commit(message, bytes);
  const std::uint64_t syncs_before = h.audit.syncs();
  h.scheduler.enqueue(message, bytes);

  ASSERT_TRUE(h.smart_host.waitForMessages(1, 10s));
  // Delivered, recorded (the spool no longer holds it) and its event written...
  ASSERT_TRUE(waitFor([&] { return !h.spool.exists(message.id); }, 5s));
  const auto recorded = std::chrono::steady_clock::now();
  // ...and made durable by an fdatasync nobody else asked for.
  EXPECT_TRUE(waitFor([&] { return h.audit.syncs() > syncs_before; }, 2s))
      << "the delivery event was never synced";
  EXPECT_LT(std::chrono::steady_clock::now() - recorded, Scheduler::kAuditSyncDelay + 900ms);
  std::string log;
  for (const auto& entry : std::filesystem::directory_iterator(h.audit_options.dir)) {
    std::ifstream in(entry.path());
    log.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  EXPECT_NE(log.find(message.id.str()), std::string::npos) << log;
}

// A recovered message whose bytes no longer match their checksum (a crash before the sync that
// would have made them durable: the client never got its 250) is dropped, not sent and not
// retried; the spool keeps it in corrupt/. The next message goes on as usual.
TEST(Scheduler, AMessageWhoseBytesDoNotMatchTheirChecksumIsDropped) {
  Harness h;
  const std::string bytes = "Subject: torn\r\n\r\nthe new bytes\r\n";
  const auto torn = h.message(bytes);
  const auto good = h.message(bytes);
  h.spool.place(torn, bytes);
  h.spool.place(good, bytes);
  h.spool.syncQueue();
  {
    const auto path = h.spool.messagePath(torn.id);
    std::string file = readFile(path);
    file.replace(file.find("new bytes"), 3, "old");
    std::ofstream(path, std::ios::binary | std::ios::trunc) << file;
  }
  h.scheduler.start(h.spool.recover());

  ASSERT_TRUE(h.smart_host.waitForMessages(1, 10s));
  EXPECT_TRUE(waitFor([&] { return h.known() == 0; }, 5s)) << h.known() << " still queued";
  EXPECT_EQ(h.smart_host.transactions().size(), 1U);
  EXPECT_EQ(h.smart_host.transactions().front().data.find("old bytes"), std::string::npos);
  EXPECT_TRUE(
      std::filesystem::exists(h.dir.path() / "spool" / "corrupt" / (torn.id.str() + ".msg")));
  EXPECT_FALSE(h.spool.exists(torn.id));
}

}  // namespace
}  // namespace relayguard::delivery
