// pipeline_test: building a pipeline from a rules directory (errors with file:line:col) and the
// run policy: strongest result wins, reject ends the run, on_error for a failing stage, allow
// cancelling its stage's matches, sender/recipient scoping, tag headers.
#include "filters/pipeline.hpp"

#include <atomic>
#include <fstream>
#include <thread>

#include <asio/post.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/temp_dir.hpp"
#include "tests/unit/filters/run_pipeline.hpp"

namespace relayguard::filters {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class PipelineTest : public ::testing::Test {
 protected:
  void write(const std::string& name, const std::string& text) {
    std::filesystem::create_directories((dir_.path() / name).parent_path());
    std::ofstream(dir_.path() / name) << text;
  }
  std::string loadError() {
    try {
      Pipeline::load(dir_.path());
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  }
  std::string at(const std::string& file, int line, int col) {
    return (dir_.path() / file).string() + ":" + std::to_string(line) + ":" + std::to_string(col) +
           ": ";
  }
  test::TempDir dir_;
};

const char* kMessage =
    "From: a@example.test\r\nSubject: Hello there\r\n\r\nvisit http://bit.ly/x today\r\n";

TEST_F(PipelineTest, EmptyPipelineAcceptsEverything) {
  write("pipeline.toml", "# nothing\n");
  const auto p = Pipeline::load(dir_.path());
  EXPECT_TRUE(p->stageNames().empty());
  EXPECT_EQ(test::runPipeline(*p, kMessage).action, Action::kAccept);
}

TEST_F(PipelineTest, MissingPipelineFileIsAnError) {
  EXPECT_THAT(loadError(), HasSubstr("pipeline.toml: missing"));
}

TEST_F(PipelineTest, UnknownStageTypeNamesPositionAndKnownTypes) {
  write("pipeline.toml", "[[stage]]\ntype = \"antivirs\"\n");
  const auto err = loadError();
  EXPECT_THAT(err, HasSubstr(at("pipeline.toml", 2, 8) + "unknown stage type 'antivirs'"));
  EXPECT_THAT(err, HasSubstr("attachments"));
}

TEST_F(PipelineTest, UnknownStageKeyIsAnError) {
  write("pipeline.toml", "[[stage]]\ntype = \"urls\"\nfoo = 1\n");
  EXPECT_THAT(loadError(), HasSubstr(at("pipeline.toml", 3, 1) + "unknown key 'foo'"));
}

TEST_F(PipelineTest, BadOnErrorIsAnError) {
  write("pipeline.toml", "[[stage]]\ntype = \"urls\"\non_error = \"ignore\"\n");
  EXPECT_THAT(loadError(), HasSubstr("on_error: 'ignore' is not one of"));
}

TEST_F(PipelineTest, StageListedTwiceIsAnError) {
  write("pipeline.toml", "[[stage]]\ntype = \"urls\"\n[[stage]]\ntype = \"urls\"\n");
  EXPECT_THAT(loadError(), HasSubstr("stage 'urls' is listed twice"));
}

TEST_F(PipelineTest, RuleErrorsRefuseTheWholeDirectory) {
  write("pipeline.toml", "[[stage]]\ntype = \"urls\"\n");
  write("10-x.toml", "[[rule]]\nid = \"x\"\nstage = \"urls\"\naction = \"explode\"\nurl = 'a'\n");
  EXPECT_THAT(loadError(), HasSubstr("10-x.toml:4:"));
}

TEST_F(PipelineTest, WarnsAboutRulesForStagesNotRun) {
  write("pipeline.toml", "[[stage]]\ntype = \"urls\"\n");
  write("10-x.toml",
        "[[rule]]\nid = \"c\"\nstage = \"content\"\naction = \"tag\"\npattern = 'x'\n");
  const auto p = Pipeline::load(dir_.path());
  ASSERT_EQ(p->warnings().size(), 1U);
  EXPECT_THAT(p->warnings()[0], HasSubstr("rule 'c' is for stage 'content'"));
}

TEST_F(PipelineTest, StrongestResultWinsAndTagsBecomeHeaders) {
  write("pipeline.toml", "[[stage]]\ntype = \"urls\"\n[[stage]]\ntype = \"content\"\n");
  write("10-r.toml",
        "[[rule]]\nid = \"short\"\nstage = \"urls\"\naction = \"tag\"\nurl = 'bit\\.ly'\n"
        "[[rule]]\nid = \"hello\"\nstage = \"content\"\naction = \"quarantine\"\n"
        "header = \"Subject\"\npattern = '^Hello'\n");
  const auto v = test::runPipeline(*Pipeline::load(dir_.path()), kMessage);
  EXPECT_EQ(v.action, Action::kQuarantine);
  EXPECT_EQ(v.headerBlock(), "X-Relayguard-Tag: short\r\n");
  EXPECT_EQ(v.decisive()->rule, "hello");
  const auto stages = v.stagesJson();
  ASSERT_EQ(stages.size(), 2U);
  EXPECT_EQ(stages[0]["stage"], "urls");
  EXPECT_EQ(stages[0]["result"], "tag");
  EXPECT_EQ(stages[0]["rule"], "short");
  EXPECT_EQ(stages[1]["result"], "quarantine");
}

TEST_F(PipelineTest, RejectEndsTheRun) {
  write("pipeline.toml", "[[stage]]\ntype = \"urls\"\n[[stage]]\ntype = \"content\"\n");
  write("10-r.toml",
        "[[rule]]\nid = \"no-links\"\nstage = \"urls\"\naction = \"reject\"\nurl = '.'\n");
  const auto v = test::runPipeline(*Pipeline::load(dir_.path()), kMessage);
  EXPECT_EQ(v.action, Action::kReject);
  EXPECT_EQ(v.stages.size(), 1U);
}

// Records the stages the pipeline reports as done.
struct StageRecorder : StageObserver {
  void stageDone(std::string_view stage, std::chrono::steady_clock::duration took) override {
    EXPECT_GE(took.count(), 0);
    stages.emplace_back(stage);
  }
  std::vector<std::string> stages;
};

TEST_F(PipelineTest, ReportsEachStageThatRanWithItsDuration) {
  write("pipeline.toml", "[[stage]]\ntype = \"urls\"\n[[stage]]\ntype = \"content\"\n");
  StageRecorder all;
  test::runPipeline(*Pipeline::load(dir_.path()), kMessage, test::testEnvelope(), false, &all);
  EXPECT_THAT(all.stages, ElementsAre("urls", "content"));
  // A reject ends the run: the stages after it are not timed.
  write("10-r.toml",
        "[[rule]]\nid = \"no-links\"\nstage = \"urls\"\naction = \"reject\"\nurl = '.'\n");
  StageRecorder first;
  test::runPipeline(*Pipeline::load(dir_.path()), kMessage, test::testEnvelope(), false, &first);
  EXPECT_THAT(first.stages, ElementsAre("urls"));
}

TEST_F(PipelineTest, AllowCancelsTheOtherMatchesOfItsStage) {
  write("pipeline.toml", "[[stage]]\ntype = \"urls\"\n");
  write("10-r.toml",
        "[[rule]]\nid = \"block\"\nstage = \"urls\"\naction = \"reject\"\nurl = 'bit\\.ly'\n"
        "[[rule]]\nid = \"trusted\"\nstage = \"urls\"\naction = \"allow\"\nurl = '.'\n"
        "sender = '@example\\.test$'\n");
  const auto p = Pipeline::load(dir_.path());
  auto env = test::testEnvelope();
  const auto allowed = test::runPipeline(*p, kMessage, env);
  EXPECT_EQ(allowed.action, Action::kAccept);
  ASSERT_EQ(allowed.stages[0].findings.size(), 2U);
  EXPECT_THAT(allowed.stages[0].findings[0].detail, HasSubstr("cancelled by allow rule trusted"));

  env.mail_from = *Address::parseMailbox("stranger@elsewhere.test");
  EXPECT_EQ(test::runPipeline(*p, kMessage, env).action, Action::kReject);
}

TEST_F(PipelineTest, RecipientScopeNarrowsARule) {
  write("pipeline.toml", "[[stage]]\ntype = \"content\"\n");
  write("10-r.toml",
        "[[rule]]\nid = \"fin\"\nstage = \"content\"\naction = \"quarantine\"\n"
        "pattern = 'visit'\nrecipient = '^finance@'\n");
  const auto p = Pipeline::load(dir_.path());
  auto env = test::testEnvelope();
  EXPECT_EQ(test::runPipeline(*p, kMessage, env).action, Action::kAccept);
  env.rcpt_to.push_back(*Address::parseMailbox("finance@example.test"));
  EXPECT_EQ(test::runPipeline(*p, kMessage, env).action, Action::kQuarantine);
}

TEST_F(PipelineTest, PatternHittingItsMatchLimitTriggersOnError) {
  write("pipeline.toml", "[[stage]]\ntype = \"content\"\non_error = \"quarantine\"\n");
  write("10-r.toml",
        "[[rule]]\nid = \"slow\"\nstage = \"content\"\naction = \"tag\"\n"
        "pattern = '^(\\w+\\s?)*$'\n");
  const std::string hostile = "Subject: x\r\n\r\n" + std::string(5000, 'a') + " !\r\n";
  const auto v = test::runPipeline(*Pipeline::load(dir_.path()), hostile);
  EXPECT_EQ(v.action, Action::kQuarantine);
  ASSERT_EQ(v.stages.size(), 1U);
  EXPECT_THAT(v.stages[0].error, HasSubstr("match limit"));
}

// A stage type that always fails, registered only in this test's registry.
class FailingStage : public Stage {
 public:
  std::string_view name() const override { return "failing"; }
  asio::awaitable<StageResult> run(const MessageView&, StageContext&) const override {
    throw std::runtime_error("backend unavailable");
    co_return StageResult{};
  }
};

TEST_F(PipelineTest, FailingStageFailsClosedByDefault) {
  StageRegistry registry;
  registerBuiltinStages(registry);
  registry.add("failing", [](StageConfig&) { return std::make_unique<FailingStage>(); });
  write("pipeline.toml", "[[stage]]\ntype = \"failing\"\n");
  const auto v = test::runPipeline(*Pipeline::load(dir_.path(), registry), kMessage);
  EXPECT_EQ(v.action, Action::kTempfail);
  EXPECT_EQ(v.stages[0].error, "backend unavailable");

  write("pipeline.toml", "[[stage]]\ntype = \"failing\"\non_error = \"accept\"\n");
  EXPECT_EQ(test::runPipeline(*Pipeline::load(dir_.path(), registry), kMessage).action,
            Action::kAccept);
}

// An outbound stage (like dkim) that adds one header, registered only in this test's registry.
class StampStage : public Stage {
 public:
  std::string_view name() const override { return "stamp"; }
  Phase phase() const override { return Phase::kOutbound; }
  asio::awaitable<StageResult> run(const MessageView&, StageContext&) const override {
    StageResult r;
    r.add_headers.push_back({"X-Stamp", "yes"});
    co_return r;
  }
};

class OutboundPhaseTest : public PipelineTest {
 protected:
  OutboundPhaseTest() {
    registerBuiltinStages(registry_);
    registry_.add("stamp", [](StageConfig&) { return std::make_unique<StampStage>(); });
    write("10-content.toml",
          "[[rule]]\nid = \"hold\"\nstage = \"content\"\naction = \"quarantine\"\n"
          "header = \"Subject\"\npattern = \"hold me\"\n");
  }
  StageRegistry registry_;
};

TEST_F(OutboundPhaseTest, OutboundStageRunsAfterAcceptedVerdictOnly) {
  write("pipeline.toml", "[[stage]]\ntype = \"content\"\n[[stage]]\ntype = \"stamp\"\n");
  const auto p = Pipeline::load(dir_.path(), registry_);
  const auto accepted = test::runPipeline(*p, kMessage);
  EXPECT_EQ(accepted.action, Action::kAccept);
  EXPECT_EQ(accepted.headerBlock(), "X-Stamp: yes\r\n");

  const std::string held = "From: a@example.test\r\nSubject: hold me\r\n\r\nbody\r\n";
  const auto quarantined = test::runPipeline(*p, held);
  EXPECT_EQ(quarantined.action, Action::kQuarantine);
  EXPECT_EQ(quarantined.headerBlock(), "");
  ASSERT_EQ(quarantined.stages.size(), 1U);  // the stamp stage did not run

  // A release runs only the outbound stages: the content rule is not applied again.
  const auto released = test::runPipeline(*p, held, test::testEnvelope(), true);
  EXPECT_EQ(released.action, Action::kAccept);
  EXPECT_EQ(released.headerBlock(), "X-Stamp: yes\r\n");
  ASSERT_EQ(released.stages.size(), 1U);
  EXPECT_EQ(released.stages[0].stage, "stamp");
}

TEST_F(OutboundPhaseTest, FilterStageAfterOutboundStageIsAnError) {
  write("pipeline.toml", "[[stage]]\ntype = \"stamp\"\n[[stage]]\ntype = \"content\"\n");
  try {
    Pipeline::load(dir_.path(), registry_);
    FAIL() << "loaded";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr(at("pipeline.toml", 3, 1) +
                                    "stage 'content' must come before stage 'stamp'"));
  }
}

// Consecutive blocking stages share one trip to the blocking pool. Seen with a pool of one
// thread: "mark" queues a job on the pool while it runs; "probe" reports whether that job has
// run. In the same trip as "mark" it cannot have (the only thread is busy with the trip); in a
// later trip it has (the pool runs queued jobs in order, and the later trip is queued after it).
struct TripProbe {
  std::atomic<bool> marked{false};
  std::atomic<int> probe_saw_mark{-1};
};

class MarkStage : public BlockingStage {
 public:
  explicit MarkStage(TripProbe& p) : probe_(p) {}
  std::string_view name() const override { return "mark"; }
  StageResult evaluate(const MessageView&, StageContext& ctx) const override {
    // Posted from another thread, so that it goes straight into the pool's shared queue (a post
    // from a pool thread waits in that thread's own queue until its handler returns, and a later
    // trip posted meanwhile from the I/O thread could overtake it).
    std::thread([this, &ctx] {
      asio::post(ctx.blocking, [this] { probe_.marked = true; });
    }).join();
    return {};
  }

 private:
  TripProbe& probe_;
};

class ProbeStage : public BlockingStage {
 public:
  explicit ProbeStage(TripProbe& p) : probe_(p) {}
  std::string_view name() const override { return "probe"; }
  StageResult evaluate(const MessageView&, StageContext&) const override {
    probe_.probe_saw_mark = probe_.marked ? 1 : 0;
    return {};
  }

 private:
  TripProbe& probe_;
};

class BoomStage : public BlockingStage {
 public:
  std::string_view name() const override { return "boom"; }
  StageResult evaluate(const MessageView&, StageContext&) const override {
    throw std::runtime_error("scanner gone");
  }
};

// A stage that is not a BlockingStage and does nothing.
class PassStage : public Stage {
 public:
  std::string_view name() const override { return "pass"; }
  asio::awaitable<StageResult> run(const MessageView&, StageContext&) const override {
    co_return StageResult{};
  }
};

class BlockingBatchTest : public PipelineTest {
 protected:
  BlockingBatchTest() {
    registerBuiltinStages(registry_);
    registry_.add("mark", [this](StageConfig&) { return std::make_unique<MarkStage>(probe_); });
    registry_.add("probe", [this](StageConfig&) { return std::make_unique<ProbeStage>(probe_); });
    registry_.add("pass", [](StageConfig&) { return std::make_unique<PassStage>(); });
    registry_.add("boom", [](StageConfig&) { return std::make_unique<BoomStage>(); });
  }
  // Runs kMessage through a pipeline of these stages (a type, then optionally more keys after
  // a line break) on a one-thread blocking pool; stagesRun() names the stages that ran.
  Verdict runOnOneThreadPool(const std::vector<std::string>& stages) {
    std::string toml;
    for (const auto& stage : stages) {
      const auto lf = stage.find('\n');
      toml += "[[stage]]\ntype = \"" + stage.substr(0, lf) + "\"\n" +
              (lf == std::string::npos ? "" : stage.substr(lf + 1) + "\n");
    }
    write("pipeline.toml", toml);
    const auto p = Pipeline::load(dir_.path(), registry_);
    asio::thread_pool blocking(1);
    const Verdict verdict = test::runPipelineOn(blocking, *p, kMessage);
    blocking.join();
    return verdict;
  }
  std::vector<std::string> stagesRun(const Verdict& v) {
    std::vector<std::string> out;
    for (const auto& s : v.stages) {
      out.push_back(s.stage);
    }
    return out;
  }
  TripProbe probe_;
  StageRegistry registry_;
};

TEST_F(BlockingBatchTest, ConsecutiveBlockingStagesShareOneTrip) {
  const auto v = runOnOneThreadPool({"mark", "content", "probe"});
  EXPECT_THAT(stagesRun(v), ElementsAre("mark", "content", "probe"));
  EXPECT_EQ(probe_.probe_saw_mark, 0);
  EXPECT_TRUE(probe_.marked);
}

TEST_F(BlockingBatchTest, AnotherStageInBetweenEndsTheTrip) {
  const auto v = runOnOneThreadPool({"mark", "pass", "probe"});
  EXPECT_THAT(stagesRun(v), ElementsAre("mark", "pass", "probe"));
  EXPECT_EQ(probe_.probe_saw_mark, 1);
}

// Inside one trip the run policy is the same: a failing stage gets its on_error and the next
// stage still runs; a reject ends the run there.
TEST_F(BlockingBatchTest, PolicyHoldsInsideATrip) {
  const auto failed = runOnOneThreadPool({"mark", "boom\non_error = \"quarantine\"", "probe"});
  EXPECT_THAT(stagesRun(failed), ElementsAre("mark", "boom", "probe"));
  EXPECT_EQ(failed.action, Action::kQuarantine);
  EXPECT_EQ(failed.stages[1].error, "scanner gone");
  EXPECT_EQ(probe_.probe_saw_mark, 0);

  write("10-content.toml",
        "[[rule]]\nid = \"no\"\nstage = \"content\"\naction = \"reject\"\n"
        "header = \"Subject\"\npattern = \"Hello\"\n");
  probe_.probe_saw_mark = -1;
  const auto rejected = runOnOneThreadPool({"mark", "content", "probe"});
  EXPECT_THAT(stagesRun(rejected), ElementsAre("mark", "content"));
  EXPECT_EQ(rejected.action, Action::kReject);
  EXPECT_EQ(probe_.probe_saw_mark, -1);
}

TEST(StageRegistry, RefusesDoubleRegistration) {
  StageRegistry registry;
  registerBuiltinStages(registry);
  EXPECT_THROW(registerBuiltinStages(registry), std::logic_error);
  EXPECT_THAT(registry.names(),
              ElementsAre("antivirus", "attachments", "content", "dkim", "spf", "urls"));
}

}  // namespace
}  // namespace relayguard::filters
