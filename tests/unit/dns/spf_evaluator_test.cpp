// spf_evaluator_test: the libspf2 bridge's own guarantees, beyond the RFC 7208 suite: an
// include tree far past the lookup limit costs at most the limit in queries and is permerror;
// an explanation lookup after a fail at the limit keeps the fail; a DNS failure is temperror
// with the resolver's reason; the outcome's TTL is the smallest answer TTL.
#include "dns/spf_evaluator.hpp"

#include <functional>

#include <gtest/gtest.h>

#include "tests/support/zone_resolver.hpp"

namespace relayguard::dns {
namespace {

TEST(SpfEvaluator, IncludeTreeStopsAtTheLookupLimit) {
  test::ZoneResolver zone;
  // Every level includes ten more domains: 10^4 records if nothing counted across includes.
  std::function<void(const std::string&, int)> level = [&](const std::string& name, int depth) {
    std::string record = "v=spf1";
    for (int i = 0; i < 10 && depth < 4; ++i) {
      const std::string child = "d" + std::to_string(i) + "." + name;
      record += " include:" + child;
      level(child, depth + 1);
    }
    zone.add(name, RrType::kTxt, record + " -all");
  };
  level("tree.test", 0);
  const SpfOutcome o = evaluateSpf(zone, SpfQuery{"192.0.2.10", "a@tree.test", "h.test"}, {});
  EXPECT_EQ(o.result, SpfResult::kPermError) << o.comment;
  EXPECT_NE(o.comment.find("DNS lookups"), std::string::npos);
  EXPECT_LE(zone.queries(), 11U);  // the policy itself plus ten counted lookups
}

TEST(SpfEvaluator, ExplanationAfterTenLookupsKeepsTheFail) {
  test::ZoneResolver zone;
  std::string record = "v=spf1";
  for (int i = 0; i < 10; ++i) {
    record += " a:h" + std::to_string(i) + ".exp.test";
    zone.add("h" + std::to_string(i) + ".exp.test", RrType::kA, "198.51.100.1");
  }
  zone.add("exp.test", RrType::kTxt, record + " -all exp=why.exp.test");
  zone.add("why.exp.test", RrType::kTxt, "not allowed");
  const SpfOutcome o = evaluateSpf(zone, SpfQuery{"192.0.2.10", "a@exp.test", "h.test"}, {});
  EXPECT_EQ(o.result, SpfResult::kFail) << o.comment;
}

TEST(SpfEvaluator, DnsFailureIsTemperrorWithTheReason) {
  test::ZoneResolver zone;
  zone.add("t.test", RrType::kTxt, "v=spf1 include:slow.test -all");
  zone.timeout("slow.test");
  SpfOutcome o = evaluateSpf(zone, SpfQuery{"192.0.2.10", "a@t.test", "h.test"}, {});
  EXPECT_EQ(o.result, SpfResult::kTempError);
  EXPECT_NE(o.comment.find("timeout"), std::string::npos) << o.comment;
  o = evaluateSpf(zone, SpfQuery{"192.0.2.10", "a@slow.test", "h.test"}, {});
  EXPECT_EQ(o.result, SpfResult::kTempError);
}

TEST(SpfEvaluator, TtlIsTheSmallestAnswerTtl) {
  test::ZoneResolver zone;
  zone.setTtl(120);
  zone.add("t.test", RrType::kTxt, "v=spf1 a:m.t.test -all");
  zone.add("m.t.test", RrType::kA, "192.0.2.10");
  const SpfOutcome o = evaluateSpf(zone, SpfQuery{"192.0.2.10", "a@t.test", "h.test"}, {});
  EXPECT_EQ(o.result, SpfResult::kPass);
  EXPECT_EQ(o.ttl, 120U);
  EXPECT_FALSE(o.sender_dependent);
  EXPECT_EQ(o.lookups, 1U);
}

TEST(SpfEvaluator, Ipv4MappedClientIsIpv4) {
  test::ZoneResolver zone;
  zone.add("t.test", RrType::kTxt, "v=spf1 ip4:192.0.2.10 -all");
  const SpfOutcome o = evaluateSpf(zone, SpfQuery{"::ffff:192.0.2.10", "a@t.test", "h.test"}, {});
  EXPECT_EQ(o.result, SpfResult::kPass);
}

TEST(SpfEvaluator, RecordsUsingTheSenderAreMarkedSenderDependentInAnyCase) {
  test::ZoneResolver zone;
  // The version tag is case-insensitive (RFC 7208 4.5); a per-sender policy must never be
  // cached per domain.
  zone.add("t.test", RrType::kTxt, "V=SPF1 exists:%{l}.users.t.test -all");
  zone.add("app.users.t.test", RrType::kA, "127.0.0.2");
  const SpfOutcome o = evaluateSpf(zone, SpfQuery{"192.0.2.10", "app@t.test", "h.test"}, {});
  EXPECT_EQ(o.result, SpfResult::kPass);
  EXPECT_TRUE(o.sender_dependent);
}

}  // namespace
}  // namespace relayguard::dns
