// commands: the subcommands of the relayguard binary. Each registers its CLI11 options on the
// app and returns the function that runs it; app.cpp parses the command line and calls the one
// chosen. Exit status: 0 success, 1 failure, 2 usage error (CONTRACT.md).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "core/config/config.hpp"
#include "core/util/file_lock.hpp"

namespace relayguard::cli {

struct GlobalOptions {
  std::string config = "/etc/relayguard/relayguard.toml";
  std::string log_level;  // empty: [log] level, else info
};

using Runner = std::function<int()>;

void addServeCommand(CLI::App& app, const GlobalOptions& global, Runner& run);
void addCheckCommand(CLI::App& app, const GlobalOptions& global, Runner& run);
void addQueueCommand(CLI::App& app, const GlobalOptions& global, Runner& run);
void addSinkCommand(CLI::App& app, const GlobalOptions& global, Runner& run);
void addRulesCommand(CLI::App& app, const GlobalOptions& global, Runner& run);
void addAuditCommand(CLI::App& app, const GlobalOptions& global, Runner& run);
void addQuarantineCommand(CLI::App& app, const GlobalOptions& global, Runner& run);
void addDkimCommand(CLI::App& app, const GlobalOptions& global, Runner& run);
void addUserCommand(CLI::App& app, const GlobalOptions& global, Runner& run);
void addDoctorCommand(CLI::App& app, const GlobalOptions& global, Runner& run);

// A runner that loads the config file and calls fn with it; a ConfigError (file:line:col) or any
// other error is printed as one line and gives exit status 1.
Runner withConfig(const GlobalOptions& global, std::function<int(const Config&)> fn);

// For a command that changes the spool itself because no relay answered on the control socket:
// the spool lock, or nullopt (with the error printed) when a relay holds the spool after all.
std::unique_ptr<FileLock> lockIdleSpool(const Config& config);

// A time bound given as RFC 3339 or as a duration back from now ("30d"), as RFC 3339; nullopt if
// it is neither. Empty stays empty.
std::optional<std::string> timeBound(const std::string& text);

// Sets up the stderr logger (log_event.hpp: UTC timestamps, one line per event), in text format
// at --log-level (info when not given), before any config is read.
void setUpLogging(const GlobalOptions& global);
// Once the config is read: its [log] format and level (--log-level still wins).
void applyLogConfig(const GlobalOptions& global, const LogConfig& log);
// Prints "error: ..." style lines: the text of a ConfigError is already file:line:col: ...
int fail(const std::string& message);

int runApp(int argc, char** argv);

}  // namespace relayguard::cli
