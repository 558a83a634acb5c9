// log_event: the relay's process log: one structured line per event, never free text.
//
//   log::info("queued", {{"id", id}, {"client", ip}, {"size", n}});
//
// Every line carries time, level, `event` (a fixed snake_case name) and the event's fields, in
// one of two formats chosen by `[log] format`:
//   text  time=2026-01-02T03:04:05.678Z level=info event=queued id=Q client=127.0.0.1 size=12
//   json  {"time":"2026-01-02T03:04:05.678Z","level":"info","event":"queued","id":"Q",...}
// Values come from the network (addresses, replies, user names), so they are escaped: in text a
// value with a space, quote, backslash, '=' or any control or non-ASCII byte is quoted with
// \" \\ \n \r \t \xHH escapes, and JSON lines are valid JSON (invalid UTF-8 replaced); a value
// can never end its line or forge another field. Never pass secrets (passwords, AUTH payloads,
// keys) as fields.
//
// install() makes this the format of the whole process log (spdlog's default logger on stderr);
// a plain spdlog call that bypasses this helper still yields a valid line, as event=log msg=...
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include <spdlog/common.h>

namespace relayguard::log {

enum class Format { kText, kJson };

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  template <class T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) Field(std::string_view k, T v)
      : key(k),
        value(std::is_signed_v<T> ? Value(static_cast<std::int64_t>(v))
                                  : Value(static_cast<std::uint64_t>(v))) {}

  using Value = std::variant<std::string_view, std::int64_t, std::uint64_t, double, bool>;
  std::string_view key;
  Value value;
};
using Fields = std::initializer_list<Field>;

// The event and its fields in `format`: `event=NAME k=v ...`, or the JSON object's members
// without the braces (`"event":"NAME","k":"v"`). The building block of every line.
std::string render(Format format, std::string_view event, Fields fields);
// One value as text format writes it (bare or quoted and escaped).
std::string textValue(std::string_view value);
// The whole line (with its newline) the process log writes for one spdlog payload: one that
// write() made, or any other text, which becomes event=log msg=TEXT.
std::string formatLine(Format format, spdlog::log_clock::time_point time,
                       spdlog::level::level_enum level, std::string_view payload);

// Sets up spdlog's default logger: stderr, this format, this level ("trace" ... "error"; an
// unknown name is info). May be called again (after the config is read) to change both.
void install(Format format, std::string_view level);

void write(spdlog::level::level_enum level, std::string_view event, Fields fields);
// log::info("event", {fields}) and its siblings, one per level.
struct AtLevel {
  spdlog::level::level_enum level;
  void operator()(std::string_view event, Fields fields = {}) const { write(level, event, fields); }
};
inline constexpr AtLevel trace{spdlog::level::trace};
inline constexpr AtLevel debug{spdlog::level::debug};
inline constexpr AtLevel info{spdlog::level::info};
inline constexpr AtLevel warn{spdlog::level::warn};
inline constexpr AtLevel error{spdlog::level::err};
inline constexpr AtLevel critical{spdlog::level::critical};

}  // namespace relayguard::log
