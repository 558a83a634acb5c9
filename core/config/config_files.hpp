// config_files: helpers for config keys that name files: a path relative to the config file's
// folder, a secret file (one line, private to its owner, never echoed) and a PEM CA bundle.
// Every problem is a ConfigError at the key's file:line:col.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "core/config/toml_reader.hpp"

namespace relayguard {

// `p` as is when absolute, else below `base` (the config file's folder).
std::filesystem::path resolveConfigPath(const std::filesystem::path& base, const std::string& p);

// Reads the secret in `file` (named by `key`), one trailing newline stripped. Refused when the
// file is missing, unreadable, not a regular file, accessible by group or others, empty, or
// more than one line. The content never appears in an error.
std::string readSecretFile(const TomlReader& r, std::string_view key,
                           const std::filesystem::path& file);

// Refuses (at `key`) a file that cannot be read or holds no PEM certificate.
void requirePemCertificates(const TomlReader& r, std::string_view key,
                            const std::filesystem::path& file);

}  // namespace relayguard
