// serve_command: `relayguard serve` runs the relay in the foreground, logging to stderr.
#include "core/cli/commands.hpp"
#include "core/config/config.hpp"
#include "core/server/relay_server.hpp"

namespace relayguard::cli {

void addServeCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto* cmd = app.add_subcommand("serve", "run the relay in the foreground");
  auto grace = std::make_shared<unsigned>(20);
  cmd->add_option("--shutdown-grace", *grace, "seconds to finish work on SIGTERM")
      ->capture_default_str();
  cmd->callback([&global, &run, grace] {
    run = [&global, grace] {
      setUpLogging(global);
      Config config;
      try {
        config = Config::load(global.config);
      } catch (const ConfigError& e) {
        return fail(e.what());
      }
      applyLogConfig(global, config.log);
      ServeOptions options;
      options.shutdown_grace = std::chrono::seconds(*grace);
      return runRelayServer(config, options);
    };
  });
}

}  // namespace relayguard::cli
