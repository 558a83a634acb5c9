// spf_stage_test: the `spf` stage built from pipeline.toml with libspf2 over an in-memory zone:
// pass, fail with every on_fail action, softfail and permerror settings, temperror as a stage
// error (on_error applies), the HELO name for the null sender, several egress addresses, the
// per-(domain, address) result cache and its per-sender form, and config errors.
#include "filters/spf/spf_stage.hpp"

#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_future.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "filters/pipeline.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/zone_resolver.hpp"
#include "tests/unit/filters/run_pipeline.hpp"

namespace relayguard::filters {
namespace {

using ::testing::HasSubstr;

class SpfStageTest : public ::testing::Test {
 protected:
  SpfStageTest() {
    zone.add("example.test", dns::RrType::kTxt, "v=spf1 ip4:192.0.2.10 -all");
    zone.add("soft.test", dns::RrType::kTxt, "v=spf1 ip4:192.0.2.10 ~all");
    zone.add("broken.test", dns::RrType::kTxt, "v=spf1 ip4:192.0.2.10 bogus:x -all");
    zone.add("relay.example.test", dns::RrType::kTxt, "v=spf1 a -all");
    zone.add("relay.example.test", dns::RrType::kA, "192.0.2.10");
    zone.add("local.test", dns::RrType::kTxt, "v=spf1 exists:%{l}.allowed.local.test -all");
    zone.add("alice.allowed.local.test", dns::RrType::kA, "127.0.0.2");
    zone.timeout("slow.test");
    rules.write("rules/20-x.toml", "");
  }

  std::shared_ptr<const Pipeline> load(const std::string& stage_toml) {
    rules.write("rules/pipeline.toml", "[[stage]]\ntype = \"spf\"\n" + stage_toml);
    return Pipeline::load(rules.path() / "rules");
  }

  Verdict run(const Pipeline& p, const std::string& from) {
    Envelope env = test::testEnvelope();
    env.mail_from = from.empty() ? Address::null() : *Address::parseMailbox(from);
    asio::io_context io;
    asio::thread_pool blocking(2);
    const std::string raw = "Subject: hi\r\n\r\nbody\r\n";
    const MessageView view(env, raw);
    StageContext ctx{blocking, &zone, "relay.example.test"};
    auto future = asio::co_spawn(io, p.run(view, ctx), asio::use_future);
    io.run();
    auto v = future.get();
    blocking.join();
    return v;
  }

  static std::string rule(const Verdict& v, std::size_t i = 0) {
    return v.stages.at(0).findings.at(i).rule;
  }

  test::ZoneResolver zone;
  test::TempDir rules;
};

TEST_F(SpfStageTest, PassIsAccepted) {
  const auto p = load("egress_ips = [\"192.0.2.10\"]\n");
  const Verdict v = run(*p, "app@example.test");
  EXPECT_EQ(v.action, Action::kAccept);
  EXPECT_EQ(rule(v), "spf-pass");
  EXPECT_THAT(v.stages[0].findings[0].detail, HasSubstr("domain=example.test ip=192.0.2.10"));
  EXPECT_TRUE(v.add_headers.empty());
}

TEST_F(SpfStageTest, FailAppliesOnFail) {
  const std::vector<std::pair<std::string, Action>> cases{{"", Action::kTag},
                                                          {"tag", Action::kTag},
                                                          {"quarantine", Action::kQuarantine},
                                                          {"reject", Action::kReject},
                                                          {"accept", Action::kAccept}};
  for (const auto& [choice, action] : cases) {
    const auto p = load("egress_ips = [\"198.51.100.7\"]\n" +
                        (choice.empty() ? "" : "on_fail = \"" + choice + "\"\n"));
    const Verdict v = run(*p, "app@example.test");
    EXPECT_EQ(v.action, action) << choice;
    EXPECT_EQ(rule(v), "spf-fail");
    if (action == Action::kTag) {
      ASSERT_EQ(v.add_headers.size(), 1U);
      EXPECT_EQ(v.add_headers[0].name, "X-Relayguard-Tag");
      EXPECT_EQ(v.add_headers[0].value, "spf-fail");
    } else {
      EXPECT_TRUE(v.add_headers.empty()) << choice;
    }
  }
}

TEST_F(SpfStageTest, SoftfailAndPermerrorHaveTheirOwnSettings) {
  auto p = load("egress_ips = [\"198.51.100.7\"]\n");
  EXPECT_EQ(run(*p, "app@soft.test").action, Action::kAccept);
  EXPECT_EQ(rule(run(*p, "app@soft.test")), "spf-softfail");
  EXPECT_EQ(rule(run(*p, "app@broken.test")), "spf-permerror");
  p = load(
      "egress_ips = [\"198.51.100.7\"]\non_softfail = \"tag\"\non_permerror = \"quarantine\"\n");
  EXPECT_EQ(run(*p, "app@soft.test").action, Action::kTag);
  EXPECT_EQ(run(*p, "app@broken.test").action, Action::kQuarantine);
}

TEST_F(SpfStageTest, TemperrorIsAStageErrorSoOnErrorApplies) {
  auto p = load("egress_ips = [\"192.0.2.10\"]\n");
  Verdict v = run(*p, "app@slow.test");
  EXPECT_EQ(v.action, Action::kTempfail);
  EXPECT_THAT(v.stages[0].error, HasSubstr("temperror"));
  EXPECT_THAT(v.stages[0].error, HasSubstr("slow.test"));
  p = load("egress_ips = [\"192.0.2.10\"]\non_error = \"accept\"\n");
  EXPECT_EQ(run(*p, "app@slow.test").action, Action::kAccept);
}

TEST_F(SpfStageTest, NullSenderChecksOurHeloName) {
  const auto p = load("egress_ips = [\"192.0.2.10\", \"198.51.100.7\"]\n");
  const Verdict v = run(*p, "");
  ASSERT_EQ(v.stages[0].findings.size(), 2U);
  EXPECT_EQ(rule(v, 0), "spf-pass");
  EXPECT_EQ(rule(v, 1), "spf-fail");
  EXPECT_THAT(v.stages[0].findings[1].detail, HasSubstr("domain=relay.example.test"));
  EXPECT_EQ(v.action, Action::kTag);
}

TEST_F(SpfStageTest, ResultsAreCachedPerDomainAndAddress) {
  const auto p = load("egress_ips = [\"192.0.2.10\"]\n");
  run(*p, "app@example.test");
  const std::size_t after_first = zone.queries();
  EXPECT_GT(after_first, 0U);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(rule(run(*p, "other" + std::to_string(i) + "@example.test")), "spf-pass");
  }
  EXPECT_EQ(zone.queries(), after_first);  // no DNS, no libspf2 at steady state
}

TEST_F(SpfStageTest, NothingIsCachedWithoutTtl) {
  zone.setTtl(0);
  const auto p = load("egress_ips = [\"192.0.2.10\"]\n");
  run(*p, "app@example.test");
  const std::size_t after_first = zone.queries();
  run(*p, "app@example.test");
  EXPECT_GT(zone.queries(), after_first);
}

TEST_F(SpfStageTest, PoliciesUsingTheLocalPartAreCachedPerSender) {
  const auto p = load("egress_ips = [\"192.0.2.10\"]\n");
  EXPECT_EQ(rule(run(*p, "alice@local.test")), "spf-pass");
  EXPECT_EQ(rule(run(*p, "bob@local.test")), "spf-fail");
  EXPECT_EQ(rule(run(*p, "alice@local.test")), "spf-pass");
}

TEST_F(SpfStageTest, AFullCacheDropsTheEntriesClosestToExpiryNotEverything) {
  SpfStage::Options options;
  options.egress_ips = {"192.0.2.10"};
  options.max_cache_entries = 10;
  const SpfStage stage(options);
  auto check = [&](const std::string& domain) {
    Envelope env = test::testEnvelope();
    env.mail_from = *Address::parseMailbox("app@" + domain);
    const std::string raw = "Subject: hi\r\n\r\nbody\r\n";
    const MessageView view(env, raw);
    asio::io_context io;
    asio::thread_pool blocking(1);
    StageContext ctx{blocking, &zone, "relay.example.test"};
    auto future = asio::co_spawn(io, stage.run(view, ctx), asio::use_future);
    io.run();
    blocking.join();
    return future.get().findings.at(0).rule;
  };
  for (int i = 0; i < 12; ++i) {
    const std::string domain = "d" + std::to_string(i) + ".test";
    zone.add(domain, dns::RrType::kTxt, "v=spf1 ip4:192.0.2.10 -all");
    EXPECT_EQ(check(domain), "spf-pass");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // distinct expiry times
  }
  EXPECT_EQ(stage.evaluations(), 12U);
  // Each eviction dropped the two entries closest to expiry (d0 to d3); the eight newest are
  // still cached: no new evaluation for them (emptying the cache would have kept only d9 on) ...
  for (int i = 4; i < 12; ++i) {
    EXPECT_EQ(check("d" + std::to_string(i) + ".test"), "spf-pass");
  }
  EXPECT_EQ(stage.evaluations(), 12U);
  // ... while the oldest went first.
  EXPECT_EQ(check("d0.test"), "spf-pass");
  EXPECT_EQ(stage.evaluations(), 13U);
}

TEST_F(SpfStageTest, ConfigErrorsNameTheKey) {
  auto error = [this](const std::string& toml) -> std::string {
    try {
      load(toml);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_THAT(error(""), HasSubstr("egress_ips"));
  EXPECT_THAT(error("egress_ips = []\n"), HasSubstr("egress_ips"));
  EXPECT_THAT(error("egress_ips = [\"192.0.2.10\", \"nope\"]\n"), HasSubstr("pipeline.toml:3:"));
  EXPECT_THAT(error("egress_ips = [\"192.0.2.10\"]\non_fail = \"bounce\"\n"), HasSubstr("on_fail"));
  EXPECT_THAT(error("egress_ips = [\"192.0.2.10\"]\nspf = 1\n"), HasSubstr("spf"));
}

TEST_F(SpfStageTest, NoResolverIsAStageError) {
  const auto p = load("egress_ips = [\"192.0.2.10\"]\n");
  const Verdict v = test::runPipeline(*p, "Subject: x\r\n\r\nx\r\n");
  EXPECT_EQ(v.action, Action::kTempfail);
  EXPECT_THAT(v.stages[0].error, HasSubstr("resolver"));
}

}  // namespace
}  // namespace relayguard::filters
