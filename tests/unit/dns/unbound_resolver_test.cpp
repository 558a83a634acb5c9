// unbound_resolver_test: the real libunbound resolver against the Python test DNS server on
// loopback: record decoding (A, AAAA, MX, null MX, multi-string TXT, CNAME), NXDOMAIN versus
// NODATA, a server that does not answer as kTempFail within the timeout, the TTL cache, and the
// blocking form used by the libspf2 bridge.
#include "dns/unbound_resolver.hpp"

#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <gtest/gtest.h>

#include "tests/support/temp_dir.hpp"
#include "tests/support/test_dns_server.hpp"

namespace relayguard::dns {
namespace {

nlohmann::json testZone() {
  return {{"ttl", 300},
          {"names",
           {{"example.test",
             {{"MX", {{20, "backup.example.test"}, {10, "mx.example.test"}}},
              {"TXT", {"v=spf1 ip4:192.0.2.10 " + std::string(300, 'x') + " -all"}}}},
            {"mx.example.test", {{"A", {"127.0.0.1"}}, {"AAAA", {"::1"}}}},
            {"alias.example.test", {{"CNAME", "mx.example.test"}}},
            {"nomail.test", {{"MX", {{0, "."}}}}},
            {"slow.test", {{"TIMEOUT", true}}}}}};
}

class UnboundResolverTest : public ::testing::Test {
 protected:
  UnboundResolverTest()
      : server(dir.path(), testZone()),
        work(asio::make_work_guard(io)),
        thread([this] { io.run(); }) {
    ResolverOptions o;
    o.servers.push_back(ServerAddress{"127.0.0.1", server.port()});
    o.timeout = std::chrono::milliseconds(700);
    o.attempts = 2;
    resolver = std::make_unique<UnboundResolver>(io.get_executor(), o);
  }
  ~UnboundResolverTest() override {
    resolver.reset();
    work.reset();
    io.stop();
    thread.join();
  }
  Answer ask(const std::string& name, RrType type) {
    return asio::co_spawn(io, resolver->query(name, type), asio::use_future).get();
  }

  test::TempDir dir;
  test::TestDnsServer server;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::thread thread;
  std::unique_ptr<UnboundResolver> resolver;
};

TEST_F(UnboundResolverTest, DecodesRecords) {
  Answer a = ask("mx.example.test", RrType::kA);
  ASSERT_EQ(a.status, Status::kOk) << a.error;
  EXPECT_EQ(a.records, std::vector<std::string>{"127.0.0.1"});
  EXPECT_GT(a.ttl, 0U);
  EXPECT_LE(a.ttl, 300U);
  EXPECT_EQ(ask("mx.example.test", RrType::kAaaa).records, std::vector<std::string>{"::1"});

  a = ask("example.test", RrType::kMx);
  ASSERT_EQ(a.status, Status::kOk);
  std::sort(a.records.begin(), a.records.end());
  EXPECT_EQ(a.records, (std::vector<std::string>{"10 mx.example.test", "20 backup.example.test"}));
  EXPECT_EQ(ask("nomail.test", RrType::kMx).records, std::vector<std::string>{"0 ."});

  a = ask("example.test", RrType::kTxt);  // 2 strings on the wire, one record
  ASSERT_EQ(a.records.size(), 1U);
  EXPECT_EQ(a.records[0], "v=spf1 ip4:192.0.2.10 " + std::string(300, 'x') + " -all");

  EXPECT_EQ(ask("alias.example.test", RrType::kA).records, std::vector<std::string>{"127.0.0.1"});
}

TEST_F(UnboundResolverTest, TellsNxDomainFromNoData) {
  EXPECT_EQ(ask("nowhere.test", RrType::kA).status, Status::kNxDomain);
  EXPECT_EQ(ask("example.test", RrType::kA).status, Status::kNoData);
}

TEST_F(UnboundResolverTest, NoAnswerIsATemporaryFailureWithinTheTimeout) {
  const auto start = std::chrono::steady_clock::now();
  const Answer a = ask("slow.test", RrType::kTxt);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(a.status, Status::kTempFail);
  EXPECT_NE(a.error.find("slow.test"), std::string::npos) << a.error;
  EXPECT_LT(took, std::chrono::seconds(3));  // 2 attempts x 700 ms, plus scheduling
  // The server stays usable for names it does answer.
  EXPECT_EQ(ask("mx.example.test", RrType::kA).status, Status::kOk);
}

TEST_F(UnboundResolverTest, CachesAnswersForTheirTtl) {
  EXPECT_EQ(ask("mx.example.test", RrType::kA).records, std::vector<std::string>{"127.0.0.1"});
  auto changed = testZone();
  changed["names"]["mx.example.test"]["A"] = {"192.0.2.99"};
  changed["names"]["mx.example.test"]["AAAA"] = {"2001:db8::99"};
  server.update(changed);
  // A record set not asked before sees the new zone (so the server did change) ...
  EXPECT_EQ(ask("mx.example.test", RrType::kAaaa).records,
            std::vector<std::string>{"2001:db8::99"});
  // ... while, within its 300 s TTL, the cached one stands.
  EXPECT_EQ(ask("mx.example.test", RrType::kA).records, std::vector<std::string>{"127.0.0.1"});
}

TEST_F(UnboundResolverTest, BlockingFormWorksFromAnotherThread) {
  Answer a;
  std::thread t([&] { a = resolver->queryBlocking("example.test", RrType::kTxt); });
  t.join();
  EXPECT_EQ(a.status, Status::kOk);
  a = Answer{};
  std::thread t2([&] { a = resolver->queryBlocking("slow.test", RrType::kA); });
  t2.join();
  EXPECT_EQ(a.status, Status::kTempFail);
}

}  // namespace
}  // namespace relayguard::dns
