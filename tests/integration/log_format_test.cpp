// log_format_test: the process log of the real relay. With [log] format = "json" every stderr
// line is one JSON object with time, level and event, and a message's `queued` event names its
// queue id, even for a sender address full of quotes and backslashes; the text format writes
// key=value lines, and [log] level = "debug" shows debug events that info hides.
#include "tests/integration/relay_harness.hpp"

namespace relayguard::test {
namespace {

using namespace std::chrono_literals;

class LogFormatTest : public IntegrationTest {
 protected:
  Relay& start(const std::vector<std::string>& log_section) {
    Sink& sink = startSink(freeLoopbackPort());
    RelayOptions o;
    o.smart_hosts = {"127.0.0.1:" + std::to_string(sink.port())};
    o.extra_config = log_section;
    return startRelay(o);
  }
};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  EXPECT_EQ(start, text.size()) << "the log ends in the middle of a line";
  return out;
}

TEST_F(LogFormatTest, JsonLinesAreValidAndTheQueuedEventNamesTheId) {
  Relay& relay = start({"[log]", "format = \"json\""});
  const std::string odd_sender = R"("odd \"quoted\" \\name"@example.test)";
  const auto t = relay.send(odd_sender, {"user@example.test"},
                            makeMessage("app@example.test", "user@example.test", "json", "x\r\n"));
  ASSERT_EQ(t.final.code, 250) << t.final.text();
  ASSERT_TRUE(relay.waitForQueueSize(0, 10s));
  ASSERT_EQ(relay.terminate(10s), 0);
  const auto all = lines(readFile(relay.logFile()));
  ASSERT_GE(all.size(), 5U);
  bool queued = false;
  bool delivered = false;
  for (const auto& line : all) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << "not a JSON object: " << line;
    EXPECT_TRUE(j.contains("time") && j.contains("level") && j.contains("event")) << line;
    EXPECT_NE(j["event"], "connect") << "a debug event at level info: " << line;
    if (j["event"] == "queued" && j.value("id", "") == t.queueId()) {
      queued = true;
      EXPECT_EQ(j["from"], "<" + odd_sender + ">");
      EXPECT_EQ(j["client"], "127.0.0.1");
    }
    delivered = delivered || (j["event"] == "delivered" && j.value("id", "") == t.queueId());
  }
  EXPECT_TRUE(queued) << "no queued event with id " << t.queueId();
  EXPECT_TRUE(delivered) << "no delivered event with id " << t.queueId();
}

TEST_F(LogFormatTest, TextLinesAreKeyValueAndDebugLevelShowsMore) {
  Relay& relay = start({"[log]", "format = \"text\"", "level = \"debug\""});
  const auto t = relay.send("app@example.test", {"user@example.test"},
                            makeMessage("app@example.test", "user@example.test", "text", "x\r\n"));
  ASSERT_EQ(t.final.code, 250);
  ASSERT_TRUE(relay.process().waitForLog("event=queued id=" + t.queueId() + " ", 10s));
  const std::string log = readFile(relay.logFile());
  EXPECT_NE(log.find("level=debug event=connect client=127.0.0.1 mode=relay"), std::string::npos)
      << log;
  for (const auto& line : lines(log)) {
    EXPECT_TRUE(line.starts_with("time=")) << line;
    EXPECT_NE(line.find(" event="), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace relayguard::test
