// audit_test: the audit log written by the running relay: one verdict line per message
// (rejects too) and delivery events, a chain `relayguard audit verify` accepts with the anchor
// key, and a tampered line it names by file and line.
#include <algorithm>
#include <fstream>
#include <sstream>

#include <sys/stat.h>

#include "tests/integration/relay_harness.hpp"

namespace relayguard::test {
namespace {

class AuditTest : public IntegrationTest {};

TEST_F(AuditTest, VerdictsAndDeliveriesAreChainedAndVerified) {
  auto& sink = startSink(freeLoopbackPort());
  const auto key = dir_.write("audit.key", "an-audit-key-for-the-integration-test\n");
  ::chmod(key.c_str(), 0600);
  RelayOptions opts;
  opts.smart_hosts = {"127.0.0.1:" + std::to_string(sink.port())};
  opts.extra_config = {"[audit]", "key_file = \"" + key.string() + "\"",
                       "anchor_interval = \"1s\""};
  auto& relay = makeRelay(opts);
  std::ofstream(relay.configFile().parent_path() / "rules" / "pipeline.toml")
      << "[[stage]]\ntype = \"content\"\n";
  std::ofstream(relay.configFile().parent_path() / "rules" / "10.toml")
      << "[[rule]]\nid = \"no-secrets\"\nstage = \"content\"\naction = \"reject\"\n"
         "header = \"Subject\"\npattern = 'secret'\n";
  relay.start();

  const auto ok = relay.send("app@example.test", {"user@example.test"},
                             makeMessage("app@example.test", "user@example.test", "hi", "hello"));
  ASSERT_EQ(ok.final.code, 250);
  const auto bad = relay.send("app@example.test", {"user@example.test"},
                              makeMessage("app@example.test", "user@example.test", "secret", "x"));
  ASSERT_EQ(bad.final.code, 550);
  ASSERT_TRUE(sink.waitForMessages(1, std::chrono::seconds(10)));
  const auto audit_dir = relay.spoolDir() / "audit";
  ASSERT_TRUE(waitUntil(
      [&] {
        for (const auto& j : auditLines(audit_dir)) {
          if (j.value("event", "") == "delivery") {
            return true;
          }
        }
        return false;
      },
      std::chrono::seconds(10)));

  std::size_t verdicts = 0;
  for (const auto& j : auditLines(audit_dir)) {
    if (j.value("event", "") == "verdict") {
      ++verdicts;
      EXPECT_EQ(j["client_ip"], "127.0.0.1");
      EXPECT_TRUE(j["auth_user"].is_null());
    }
    if (j.value("event", "") == "delivery") {
      EXPECT_EQ(j["queue_id"], ok.queueId());
      EXPECT_EQ(j["result"], "delivered");
    }
  }
  EXPECT_EQ(verdicts, 2U);

  ASSERT_EQ(relay.terminate(std::chrono::seconds(10)), 0);
  const auto verified = relay.cli({"audit", "verify"});
  EXPECT_EQ(verified.exit_status, 0) << verified.out << verified.err;
  EXPECT_NE(verified.out.find("anchor(s) verified"), std::string::npos) << verified.out;

  // What happened to the delivered message, and everything the rule did.
  const auto found = relay.cli({"audit", "search", "--queue-id", ok.queueId()});
  ASSERT_EQ(found.exit_status, 0) << found.err;
  std::istringstream in(found.out);
  std::vector<std::string> events;
  for (std::string line; std::getline(in, line);) {
    events.push_back(nlohmann::json::parse(line)["event"].get<std::string>());
  }
  EXPECT_EQ(events, (std::vector<std::string>{"verdict", "delivery"}));
  const auto by_rule = relay.cli({"audit", "search", "--rule", "no-secrets", "--table"});
  ASSERT_EQ(by_rule.exit_status, 0) << by_rule.err;
  EXPECT_NE(by_rule.out.find("  verdict  "), std::string::npos) << by_rule.out;
  EXPECT_NE(by_rule.out.find("  reject  <app@example.test>"), std::string::npos) << by_rule.out;
  EXPECT_NE(by_rule.out.find("-- 1 line(s)"), std::string::npos) << by_rule.out;

  // Tamper with the first line: verify names the file and the line after it.
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(audit_dir)) {
    files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::string content = readFile(files[0]);
  content.replace(content.find("127.0.0.1"), 9, "127.0.0.9");
  std::ofstream(files[0], std::ios::trunc) << content;
  const auto tampered = relay.cli({"audit", "verify"});
  EXPECT_EQ(tampered.exit_status, 1);
  EXPECT_NE(tampered.err.find(files[0].string() + ":2: "), std::string::npos) << tampered.err;
}

}  // namespace
}  // namespace relayguard::test
