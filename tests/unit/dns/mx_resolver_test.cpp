// mx_resolver_test: MX selection over an in-memory zone: preference order with random order
// among equals, the A/AAAA fallback, null MX and NXDOMAIN as permanent failures, resolver
// failures as temporary ones, and the per-attempt bound on hosts.
#include "dns/mx_resolver.hpp"

#include <set>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <gtest/gtest.h>

#include "tests/support/zone_resolver.hpp"

namespace relayguard::dns {
namespace {

MxResult resolve(Resolver& r, const std::string& domain, std::size_t max_hosts = 5) {
  asio::io_context io;
  MxOptions options;
  options.max_hosts = max_hosts;
  auto f = asio::co_spawn(io, resolveMx(r, domain, options), asio::use_future);
  io.run();
  return f.get();
}

std::vector<std::string> names(const MxResult& r) {
  std::vector<std::string> out;
  for (const auto& h : r.hosts) {
    out.push_back(h.name);
  }
  return out;
}

TEST(MxResolver, ParsesRecords) {
  auto mx = parseMx("10 mx.example.test");
  ASSERT_TRUE(mx);
  EXPECT_EQ(mx->preference, 10);
  EXPECT_EQ(mx->host, "mx.example.test");
  EXPECT_EQ(parseMx("0 .")->host, ".");
  EXPECT_FALSE(parseMx("mx.example.test"));
  EXPECT_FALSE(parseMx("70000 mx.example.test"));
  EXPECT_FALSE(parseMx("10 "));
}

TEST(MxResolver, OrdersByPreferenceAndShufflesEquals) {
  std::set<std::string> first_seen;
  for (unsigned seed = 0; seed < 50; ++seed) {
    std::vector<MxRecord> records{{20, "c"}, {10, "a"}, {10, "b"}, {30, "d"}};
    std::mt19937 rng(seed);
    orderMx(records, rng);
    EXPECT_EQ(records[0].preference, 10);
    EXPECT_EQ(records[1].preference, 10);
    EXPECT_EQ(records[2].host, "c");
    EXPECT_EQ(records[3].host, "d");
    first_seen.insert(records[0].host);
  }
  EXPECT_EQ(first_seen, (std::set<std::string>{"a", "b"}));  // both orders occur
}

TEST(MxResolver, ResolvesHostsInPreferenceOrderIpv4First) {
  test::ZoneResolver zone;
  zone.add("example.test", RrType::kMx, "20 backup.example.test");
  zone.add("example.test", RrType::kMx, "10 mx.example.test");
  zone.add("mx.example.test", RrType::kAaaa, "2001:db8::1");
  zone.add("mx.example.test", RrType::kA, "192.0.2.1");
  zone.add("backup.example.test", RrType::kA, "192.0.2.2");
  const MxResult r = resolve(zone, "example.test");
  ASSERT_EQ(r.kind, MxResult::Kind::kHosts);
  EXPECT_EQ(names(r), (std::vector<std::string>{"mx.example.test", "backup.example.test"}));
  EXPECT_EQ(r.hosts[0].addresses, (std::vector<std::string>{"192.0.2.1", "2001:db8::1"}));
}

TEST(MxResolver, FallsBackToAddressRecordsWithoutMx) {
  test::ZoneResolver zone;
  zone.add("plain.test", RrType::kA, "192.0.2.7");
  const MxResult r = resolve(zone, "plain.test");
  ASSERT_EQ(r.kind, MxResult::Kind::kHosts);
  EXPECT_EQ(names(r), (std::vector<std::string>{"plain.test"}));
  EXPECT_EQ(r.hosts[0].addresses, (std::vector<std::string>{"192.0.2.7"}));
}

TEST(MxResolver, NullMxIsPermanent) {
  test::ZoneResolver zone;
  zone.add("nomail.test", RrType::kMx, "0 .");
  zone.add("nomail.test", RrType::kA, "192.0.2.9");  // never used for mail
  const MxResult r = resolve(zone, "nomail.test");
  EXPECT_EQ(r.kind, MxResult::Kind::kPermanent);
  EXPECT_EQ(r.reason, MxResult::Reason::kNullMx);
}

TEST(MxResolver, NxDomainIsPermanent) {
  test::ZoneResolver zone;
  const MxResult r = resolve(zone, "nowhere.test");
  EXPECT_EQ(r.kind, MxResult::Kind::kPermanent);
  EXPECT_EQ(r.reason, MxResult::Reason::kNoSuchDomain);
}

TEST(MxResolver, DomainWithoutMxOrAddressIsPermanent) {
  test::ZoneResolver zone;
  zone.add("empty.test", RrType::kTxt, "hello");
  const MxResult r = resolve(zone, "empty.test");
  EXPECT_EQ(r.kind, MxResult::Kind::kPermanent);
  EXPECT_EQ(r.reason, MxResult::Reason::kNoAddress);
}

TEST(MxResolver, ResolverFailureIsTemporaryNeverNoRecord) {
  test::ZoneResolver zone;
  zone.timeout("slow.test");
  MxResult r = resolve(zone, "slow.test");
  EXPECT_EQ(r.kind, MxResult::Kind::kTemporary);
  EXPECT_EQ(r.reason, MxResult::Reason::kDnsFailure);

  // The MX answer is fine but its host cannot be resolved right now.
  zone.add("half.test", RrType::kMx, "10 mx.slow.test");
  zone.timeout("mx.slow.test");
  r = resolve(zone, "half.test");
  EXPECT_EQ(r.kind, MxResult::Kind::kTemporary);
}

TEST(MxResolver, UnresolvableHostIsSkipped) {
  test::ZoneResolver zone;
  zone.add("example.test", RrType::kMx, "10 gone.example.test");
  zone.add("example.test", RrType::kMx, "20 mx.example.test");
  zone.add("mx.example.test", RrType::kA, "192.0.2.1");
  const MxResult r = resolve(zone, "example.test");
  ASSERT_EQ(r.kind, MxResult::Kind::kHosts);
  EXPECT_EQ(names(r), (std::vector<std::string>{"mx.example.test"}));
}

TEST(MxResolver, BoundsHostsPerAttempt) {
  test::ZoneResolver zone;
  for (int i = 0; i < 8; ++i) {
    const std::string host = "mx" + std::to_string(i) + ".example.test";
    zone.add("example.test", RrType::kMx, std::to_string(10 * i) + " " + host);
    zone.add(host, RrType::kA, "192.0.2." + std::to_string(i + 1));
  }
  const MxResult r = resolve(zone, "example.test", 3);
  ASSERT_EQ(r.kind, MxResult::Kind::kHosts);
  EXPECT_EQ(names(r),
            (std::vector<std::string>{"mx0.example.test", "mx1.example.test", "mx2.example.test"}));
  EXPECT_EQ(zone.queries(), 1U + 3 * 2);  // MX, then A and AAAA of three hosts only
}

TEST(MxResolver, BoundsAddressesPerHost) {
  test::ZoneResolver zone;
  zone.add("example.test", RrType::kMx, "10 wide.example.test");
  for (int i = 1; i <= 100; ++i) {
    zone.add("wide.example.test", RrType::kA, "192.0.2." + std::to_string(i));
  }
  const MxResult r = resolve(zone, "example.test");
  ASSERT_EQ(r.kind, MxResult::Kind::kHosts);
  ASSERT_EQ(r.hosts.size(), 1U);
  EXPECT_EQ(r.hosts[0].addresses.size(), MxOptions{}.max_addresses_per_host);
  EXPECT_EQ(r.hosts[0].addresses[0], "192.0.2.1");
}

}  // namespace
}  // namespace relayguard::dns
