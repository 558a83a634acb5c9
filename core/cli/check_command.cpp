// check_command: `relayguard check` validates the config file, the [service] user, the TLS
// certificate and key, the users file and the whole rules directory (pipeline, every rule, every
// list) without starting anything; every problem is one "file:line:col: message" line and exit
// status 1. Warnings (rules for a stage the pipeline does not run) are printed but do not fail the
// check.
#include <iostream>

#include "core/auth/users_file.hpp"
#include "core/cli/commands.hpp"
#include "core/config/config.hpp"
#include "core/net/tls_context.hpp"
#include "core/server/privileges.hpp"
#include "filters/pipeline.hpp"

namespace relayguard::cli {

void addCheckCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto* cmd = app.add_subcommand("check", "validate the config file and the rules directory");
  cmd->callback([&global, &run] {
    run = withConfig(global, [&global](const Config& config) {
      checkServiceUser(config.service);
      if (config.tls) {
        net::makeServerTlsContext(*config.tls);
      }
      if (!config.access.users_file.empty()) {
        auth::UsersFile::load(config.access.users_file);
      }
      const auto pipeline = filters::Pipeline::load(config.rules_dir);
      for (const auto& w : pipeline->warnings()) {
        std::cerr << "warning: " << w << "\n";
      }
      std::cout << "ok: " << global.config << " and " << config.rules_dir.string() << " are valid ("
                << pipeline->stageNames().size() << " stage(s), "
                << pipeline->rules().rules().size() << " rule(s))\n";
      return 0;
    });
  });
}

}  // namespace relayguard::cli
