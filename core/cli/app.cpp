// app: command-line parsing and dispatch for build/relayguard (see commands.hpp).
#include <iostream>

#include "core/cli/commands.hpp"
#include "core/util/log_event.hpp"
#include "core/util/time_format.hpp"
#include "core/util/units.hpp"

namespace relayguard::cli {

void setUpLogging(const GlobalOptions& global) {
  log::install(log::Format::kText, global.log_level.empty() ? "info" : global.log_level);
}

void applyLogConfig(const GlobalOptions& global, const LogConfig& config) {
  log::install(config.format, global.log_level.empty() ? config.level : global.log_level);
}

int fail(const std::string& message) {
  std::cerr << message << "\n";
  return 1;
}

std::unique_ptr<FileLock> lockIdleSpool(const Config& config) {
  try {
    return std::make_unique<FileLock>(
        config.spool_dir / "relayguard.lock", FileLock::Mode::kTry,
        "a relay holds the spool but does not answer on control.sock; try again");
  } catch (const std::exception& e) {
    fail(e.what());
    return nullptr;
  }
}

std::optional<std::string> timeBound(const std::string& text) {
  if (text.empty()) {
    return std::string();
  }
  if (const auto d = parseDuration(text)) {
    return rfc3339(std::chrono::system_clock::now() - *d);
  }
  if (text.size() >= 10 && text[4] == '-' && text[7] == '-') {
    return text;
  }
  return std::nullopt;
}

Runner withConfig(const GlobalOptions& global, std::function<int(const Config&)> fn) {
  return [&global, fn = std::move(fn)] {
    try {
      return fn(Config::load(global.config));
    } catch (const std::exception& e) {  // ConfigError's text is already file:line:col: ...
      return fail(e.what());
    }
  };
}

int runApp(int argc, char** argv) {
  CLI::App app{"relayguard: a security-focused SMTP relay"};
  app.require_subcommand(1);
  app.fallthrough();
  GlobalOptions global;
  app.add_option("--config", global.config, "configuration file")->capture_default_str();
  app.add_option("--log-level", global.log_level,
                 "trace|debug|info|warn|error (default: [log] level, else info)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  Runner run;
  addServeCommand(app, global, run);
  addCheckCommand(app, global, run);
  addQueueCommand(app, global, run);
  addSinkCommand(app, global, run);
  addRulesCommand(app, global, run);
  addAuditCommand(app, global, run);
  addQuarantineCommand(app, global, run);
  addDkimCommand(app, global, run);
  addUserCommand(app, global, run);
  addDoctorCommand(app, global, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (!run) {
    std::cerr << app.help();
    return 2;
  }
  return run();
}

}  // namespace relayguard::cli
