// check_command: `relayguard check` validates the config file and the rules directory without
// starting anything; every problem is one "file:line:col: message" line and exit status 1.
#include <iostream>

#include "core/cli/commands.hpp"
#include "core/config/config.hpp"
#include "core/config/toml_reader.hpp"

namespace relayguard::cli {

void addCheckCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto* cmd = app.add_subcommand("check", "validate the config file and the rules directory");
  cmd->callback([&global, &run] {
    run = [&global] {
      try {
        const Config config = Config::load(global.config);
        std::error_code ec;
        if (!std::filesystem::is_directory(config.rules_dir, ec)) {
          throw ConfigError(SourcePosition{config.rules_dir},
                            "the rules directory does not exist");
        }
        const auto pipeline = config.rules_dir / "pipeline.toml";
        if (std::filesystem::exists(pipeline, ec)) {
          const auto table = parseTomlFile(pipeline);
          TomlReader reader(table, pipeline);
          for (const toml::table* stage : reader.tableArray("stage")) {
            TomlReader s(*stage, pipeline);
            const auto type = s.requiredString("type");
            throw ConfigError(s.keyPosition("type"),
                              "unknown stage type '" + type + "' (this build has no stages)");
          }
          reader.finish();
        }
        std::cout << "ok: " << global.config << " and " << config.rules_dir.string()
                  << " are valid\n";
        return 0;
      } catch (const ConfigError& e) {
        return fail(e.what());
      }
    };
  });
}

}  // namespace relayguard::cli
