// log_event_test: both line formats of the process log: quoting and escaping in text, valid JSON,
// and values that try to end the line or add a field (a newline, a quote, "key=value") staying
// one value of one line.
#include "core/util/log_event.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace relayguard::log {
namespace {

// A text line's key=value pairs, read the way a logfmt parser reads them (quoted values
// unescaped), so a test sees exactly the fields a log reader would.
std::vector<std::pair<std::string, std::string>> parseText(const std::string& line) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = 0;
  while (i < line.size() && line[i] != '\n') {
    const std::size_t eq = line.find('=', i);
    std::string key = line.substr(i, eq - i);
    std::string value;
    i = eq + 1;
    if (line[i] == '"') {
      for (++i; line[i] != '"'; ++i) {
        if (line[i] == '\\') {
          ++i;
          value += line[i] == 'n' ? '\n' : line[i];
        } else {
          value += line[i];
        }
      }
      ++i;
    } else {
      const std::size_t end = line.find_first_of(" \n", i);
      value = line.substr(i, end - i);
      i = end;
    }
    out.emplace_back(std::move(key), std::move(value));
    if (line[i] == ' ') {
      ++i;
    }
  }
  return out;
}

const auto kTime = spdlog::log_clock::time_point(std::chrono::milliseconds(1767322245678));

TEST(LogEvent, TextValuesAreBareOnlyWhenSafe) {
  EXPECT_EQ(textValue("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(textValue("<a@b.test>"), "<a@b.test>");
  EXPECT_EQ(textValue(""), "\"\"");
  EXPECT_EQ(textValue("two words"), "\"two words\"");
  EXPECT_EQ(textValue("a=b"), "\"a=b\"");
  EXPECT_EQ(textValue("say \"hi\" \\o/"), R"("say \"hi\" \\o/")");
  EXPECT_EQ(textValue(std::string("nul\0bell\a", 9)), R"("nul\x00bell\x07")");
  EXPECT_EQ(textValue("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
}

TEST(LogEvent, TextLineHasTimeLevelEventAndFields) {
  const std::string payload = render(Format::kText, "queued",
                                     {{"id", "Q1"},
                                      {"size", std::size_t{42}},
                                      {"tls", true},
                                      {"delta", -3},
                                      {"reply", std::string("250 2.0.0 Ok")}});
  EXPECT_EQ(payload, "event=queued id=Q1 size=42 tls=true delta=-3 reply=\"250 2.0.0 Ok\"");
  const std::string line = formatLine(Format::kText, kTime, spdlog::level::warn, "\x1e" + payload);
  EXPECT_EQ(line, "time=2026-01-02T02:50:45.678Z level=warning " + payload + "\n");
}

TEST(LogEvent, AValueCannotForgeALineOrAField) {
  const std::string evil = "x\nlevel=error event=forged\" id=EVIL";
  const std::string line =
      formatLine(Format::kText, kTime, spdlog::level::info,
                 "\x1e" + render(Format::kText, "auth_failed", {{"user", evil}}));
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  const auto fields = parseText(line);
  ASSERT_EQ(fields.size(), 4U) << line;
  EXPECT_EQ(fields[0].first, "time");
  EXPECT_EQ(fields[1], std::make_pair(std::string("level"), std::string("info")));
  EXPECT_EQ(fields[2], std::make_pair(std::string("event"), std::string("auth_failed")));
  EXPECT_EQ(fields[3], std::make_pair(std::string("user"), evil));
}

TEST(LogEvent, JsonLinesAreValidJsonWithTheValuesIntact) {
  const std::string evil = "x\"}\n{\"event\":\"forged\"";
  const std::string line = formatLine(
      Format::kJson, kTime, spdlog::level::info,
      "\x1e" + render(Format::kJson, "queued", {{"id", "Q1"}, {"from", evil}, {"size", 7}}));
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["time"], "2026-01-02T02:50:45.678Z");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["event"], "queued");
  EXPECT_EQ(j["id"], "Q1");
  EXPECT_EQ(j["from"], evil);
  EXPECT_EQ(j["size"], 7);
  EXPECT_EQ(line.rfind("{\"time\":", 0), 0U) << "time, level and event come first: " << line;
}

TEST(LogEvent, InvalidUtf8StaysValidJson) {
  const std::string line =
      formatLine(Format::kJson, kTime, spdlog::level::info,
                 "\x1e" + render(Format::kJson, "refused", {{"from", "bad\xff\xfe"}}));
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["from"].get<std::string>().substr(0, 3), "bad");
}

TEST(LogEvent, PlainTextBecomesALogEvent) {
  const std::string text = formatLine(Format::kText, kTime, spdlog::level::err, "clamav: oops\nx");
  EXPECT_EQ(text, "time=2026-01-02T02:50:45.678Z level=error event=log msg=\"clamav: oops\\nx\"\n");
  const auto j =
      nlohmann::json::parse(formatLine(Format::kJson, kTime, spdlog::level::info, "free \"text\""));
  EXPECT_EQ(j["event"], "log");
  EXPECT_EQ(j["msg"], "free \"text\"");
}

}  // namespace
}  // namespace relayguard::log
