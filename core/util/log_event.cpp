// log_event: rendering events as text or JSON lines and the spdlog formatter that writes them
// (see log_event.hpp).
#include "core/util/log_event.hpp"

#include <atomic>
#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace relayguard::log {
namespace {

// Starts the payload of a line rendered by write(): the formatter then takes it as it is. A
// value can never contain this byte unescaped, so free text cannot pass for an event.
constexpr char kMarker = '\x1e';

std::atomic<Format> g_format{Format::kText};
std::atomic<bool> g_installed{false};

bool needsQuotes(std::string_view v) {
  if (v.empty()) {
    return true;
  }
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '"' || c == '\\' || c == '=') {
      return true;
    }
  }
  return false;
}

std::string valueText(const Field::Value& v) {
  if (const auto* s = std::get_if<std::string_view>(&v)) {
    return textValue(*s);
  }
  if (const auto* b = std::get_if<bool>(&v)) {
    return *b ? "true" : "false";
  }
  return std::visit([](auto x) { return fmt::format("{}", x); }, v);
}

nlohmann::ordered_json valueJson(const Field::Value& v) {
  return std::visit(
      [](auto x) -> nlohmann::ordered_json {
        if constexpr (std::is_same_v<decltype(x), std::string_view>) {
          return std::string(x);
        } else {
          return x;
        }
      },
      v);
}

std::string timestamp(spdlog::log_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
  const std::time_t secs = std::chrono::duration_cast<std::chrono::seconds>(ms).count();
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms.count() % 1000);
}

// Writes every line as time, level and the event: payloads from write() as rendered, anything
// else (a plain spdlog call) as event=log with the text in msg.
class LineFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string line = formatLine(g_format.load(), msg.time, msg.level,
                                        std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>();
  }
};

}  // namespace

std::string textValue(std::string_view value) {
  if (!needsQuotes(value)) {
    return std::string(value);
  }
  std::string out = "\"";
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          out += fmt::format("\\x{:02x}", u);
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string render(Format format, std::string_view event, Fields fields) {
  if (format == Format::kJson) {
    nlohmann::ordered_json j;
    j["event"] = std::string(event);
    for (const auto& f : fields) {
      j[std::string(f.key)] = valueJson(f.value);
    }
    const std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return text.substr(1, text.size() - 2);  // the members, without { }
  }
  std::string out = "event=" + textValue(event);
  for (const auto& f : fields) {
    out += " " + std::string(f.key) + "=" + valueText(f.value);
  }
  return out;
}

std::string formatLine(Format format, spdlog::log_clock::time_point time,
                       spdlog::level::level_enum level, std::string_view payload) {
  const std::string body = !payload.empty() && payload.front() == kMarker
                               ? std::string(payload.substr(1))
                               : render(format, "log", {{"msg", payload}});
  const auto name = spdlog::level::to_string_view(level);
  const std::string level_text(name.data(), name.size());
  if (format == Format::kJson) {
    return "{\"time\":\"" + timestamp(time) + "\",\"level\":\"" + level_text + "\"," + body + "}\n";
  }
  return "time=" + timestamp(time) + " level=" + level_text + " " + body + "\n";
}

void install(Format format, std::string_view level) {
  g_format.store(format);
  auto logger = spdlog::get("relayguard");
  if (!logger) {
    logger = spdlog::stderr_logger_mt("relayguard");
    spdlog::set_default_logger(logger);
  }
  logger->set_formatter(std::make_unique<LineFormatter>());
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off) {
    lvl = spdlog::level::info;  // from_str's answer for an unknown name
  }
  spdlog::set_level(lvl);
  spdlog::flush_on(spdlog::level::info);
  g_installed.store(true);
}

void write(spdlog::level::level_enum level, std::string_view event, Fields fields) {
  auto* logger = spdlog::default_logger_raw();
  if (!logger->should_log(level)) {
    return;
  }
  if (!g_installed.load()) {  // tests without install(): plain text through the default pattern
    logger->log(level, "{}", render(Format::kText, event, fields));
    return;
  }
  logger->log(level, "{}{}", kMarker, render(g_format.load(), event, fields));
}

}  // namespace relayguard::log
