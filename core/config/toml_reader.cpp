// toml_reader: position-aware TOML access (see toml_reader.hpp).
#include "core/config/toml_reader.hpp"

#include <algorithm>

#include "core/util/units.hpp"

namespace relayguard {

toml::table parseTomlFile(const std::filesystem::path& path) {
  try {
    return toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    SourcePosition where{path, src.begin.line, src.begin.column};
    throw ConfigError(where, std::string(e.description()));
  }
}

TomlReader::TomlReader(const toml::table& table, std::filesystem::path file)
    : table_(table), file_(std::move(file)) {}

SourcePosition TomlReader::at(const toml::node& node) const {
  const auto& src = node.source();
  return SourcePosition{file_, src.begin.line, src.begin.column};
}

bool TomlReader::has(std::string_view key) const {
  return table_.contains(key);
}

const toml::node* TomlReader::node(std::string_view key) {
  seen_.insert(std::string(key));
  return table_.get(key);
}

SourcePosition TomlReader::keyPosition(std::string_view key) const {
  const toml::node* n = table_.get(key);
  return n != nullptr ? at(*n) : position();
}

SourcePosition TomlReader::elementPosition(std::string_view key, std::size_t i) const {
  const toml::node* n = table_.get(key);
  if (n != nullptr && n->is_array() && i < n->as_array()->size()) {
    return at(*n->as_array()->get(i));
  }
  return keyPosition(key);
}

void TomlReader::fail(std::string_view key, const std::string& what) const {
  throw ConfigError(keyPosition(key), std::string(key) + ": " + what);
}

std::optional<std::string> TomlReader::string(std::string_view key) {
  const toml::node* n = node(key);
  if (n == nullptr) {
    return std::nullopt;
  }
  if (!n->is_string()) {
    fail(key, "expected a string");
  }
  return n->as_string()->get();
}

std::string TomlReader::requiredString(std::string_view key) {
  auto s = string(key);
  if (!s) {
    throw ConfigError(position(), "missing required key '" + std::string(key) + "'");
  }
  return *s;
}

std::optional<std::int64_t> TomlReader::integer(std::string_view key, std::int64_t min,
                                                std::int64_t max) {
  const toml::node* n = node(key);
  if (n == nullptr) {
    return std::nullopt;
  }
  if (!n->is_integer()) {
    fail(key, "expected an integer");
  }
  const std::int64_t v = n->as_integer()->get();
  if (v < min || v > max) {
    fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return v;
}

std::optional<bool> TomlReader::boolean(std::string_view key) {
  const toml::node* n = node(key);
  if (n == nullptr) {
    return std::nullopt;
  }
  if (!n->is_boolean()) {
    fail(key, "expected true or false");
  }
  return n->as_boolean()->get();
}

std::optional<std::uint64_t> TomlReader::size(std::string_view key) {
  const toml::node* n = node(key);
  if (n == nullptr) {
    return std::nullopt;
  }
  if (n->is_integer() && n->as_integer()->get() >= 0) {
    return static_cast<std::uint64_t>(n->as_integer()->get());
  }
  if (n->is_string()) {
    if (auto v = parseSize(n->as_string()->get())) {
      return v;
    }
  }
  fail(key, "expected a size such as 25M (suffixes K, M, G)");
}

std::optional<std::chrono::seconds> TomlReader::duration(std::string_view key) {
  const toml::node* n = node(key);
  if (n == nullptr) {
    return std::nullopt;
  }
  if (n->is_integer() && n->as_integer()->get() >= 0) {
    return std::chrono::seconds(n->as_integer()->get());
  }
  if (n->is_string()) {
    if (auto v = parseDuration(n->as_string()->get())) {
      return v;
    }
  }
  fail(key, "expected a duration such as 30s, 5m, 4h or 5d");
}

std::optional<std::vector<std::string>> TomlReader::stringArray(std::string_view key) {
  const toml::node* n = node(key);
  if (n == nullptr) {
    return std::nullopt;
  }
  if (!n->is_array()) {
    fail(key, "expected an array of strings");
  }
  std::vector<std::string> out;
  for (const auto& el : *n->as_array()) {
    if (!el.is_string()) {
      throw ConfigError(at(el), std::string(key) + ": expected a string");
    }
    out.push_back(el.as_string()->get());
  }
  return out;
}

std::vector<std::chrono::seconds> TomlReader::durationArray(std::string_view key) {
  std::vector<std::chrono::seconds> out;
  const toml::node* n = node(key);
  if (n == nullptr) {
    return out;
  }
  if (!n->is_array()) {
    fail(key, "expected an array of durations");
  }
  for (const auto& el : *n->as_array()) {
    std::optional<std::chrono::seconds> d;
    if (el.is_string()) {
      d = parseDuration(el.as_string()->get());
    } else if (el.is_integer() && el.as_integer()->get() >= 0) {
      d = std::chrono::seconds(el.as_integer()->get());  // integer seconds, as duration() takes
    }
    if (!d) {
      throw ConfigError(at(el), std::string(key) + ": expected a duration such as 5m");
    }
    out.push_back(*d);
  }
  return out;
}

std::optional<std::string> TomlReader::choice(std::string_view key,
                                              const std::vector<std::string>& allowed) {
  auto s = string(key);
  if (s && std::find(allowed.begin(), allowed.end(), *s) == allowed.end()) {
    std::string list;
    for (const auto& a : allowed) {
      list += (list.empty() ? "" : " | ") + a;
    }
    fail(key, "'" + *s + "' is not one of " + list);
  }
  return s;
}

const toml::table* TomlReader::table(std::string_view key) {
  const toml::node* n = node(key);
  if (n == nullptr) {
    return nullptr;
  }
  if (!n->is_table()) {
    fail(key, "expected a table [" + std::string(key) + "]");
  }
  return n->as_table();
}

std::vector<const toml::table*> TomlReader::tableArray(std::string_view key) {
  std::vector<const toml::table*> out;
  const toml::node* n = node(key);
  if (n == nullptr) {
    return out;
  }
  if (!n->is_array_of_tables()) {
    fail(key, "expected an array of tables [[" + std::string(key) + "]]");
  }
  for (const auto& el : *n->as_array()) {
    out.push_back(el.as_table());
  }
  return out;
}

void TomlReader::finish() const {
  for (const auto& [k, v] : table_) {
    if (seen_.find(k.str()) == seen_.end()) {
      (void)v;
      const auto& src = k.source();
      throw ConfigError(SourcePosition{file_, src.begin.line, src.begin.column},
                        "unknown key '" + std::string(k.str()) + "'");
    }
  }
}

}  // namespace relayguard
