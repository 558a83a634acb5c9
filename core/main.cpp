// main: entry point of build/relayguard; everything happens in the subcommands (core/cli).
#include "core/cli/commands.hpp"

int main(int argc, char** argv) {
  return relayguard::cli::runApp(argc, argv);
}
