// user_command: `relayguard user add NAME` / `user delete NAME` manage the SMTP AUTH users in
// access.users_file. `add` reads the password from stdin (one trailing newline stripped, as
// CONTRACT.md says), stores only its argon2id hash and replaces the user's old one if any; the
// file is rewritten atomically with mode 0600 under an exclusive lock (<users_file>.lock), so
// two concurrent runs cannot lose each other's change. A running relay notices the new file at
// the next AUTH (or on SIGHUP).
#include <iostream>
#include <iterator>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/auth/password_hash.hpp"
#include "core/auth/users_file.hpp"
#include "core/cli/commands.hpp"
#include "core/config/config.hpp"
#include "core/util/file_lock.hpp"
#include "core/util/secret.hpp"

namespace relayguard::cli {
namespace {

// An exclusive lock on <users_file>.lock while the file is read, changed and written.
FileLock lockUsers(const std::filesystem::path& users_file) {
  auto path = users_file;
  path += ".lock";
  return FileLock(path, FileLock::Mode::kWait);
}

const std::filesystem::path& usersFile(const Config& config) {
  if (config.access.users_file.empty()) {
    throw ConfigError(SourcePosition{config.file},
                      "[access] users_file is not set: there is nowhere to store users");
  }
  return config.access.users_file;
}

int addUser(const Config& config, const std::string& name) {
  if (!auth::UsersFile::validName(name)) {
    return fail("'" + name +
                "' is not a valid user name (1-255 printable ASCII characters, no ':' or spaces)");
  }
  const auto& file = usersFile(config);
  std::string password((std::istreambuf_iterator<char>(std::cin)),
                       std::istreambuf_iterator<char>());
  if (!password.empty() && password.back() == '\n') {
    password.pop_back();
  }
  if (password.empty()) {
    return fail("user add: no password on stdin (echo the password | relayguard user add NAME)");
  }
  const std::string hash = auth::hashPassword(password);
  wipeSecret(password);
  const FileLock lock = lockUsers(file);
  auto users = auth::UsersFile::load(file);
  const bool added = users.set(name, hash);
  users.save(file);
  std::cout << (added ? "added user " : "changed the password of user ") << name << "\n";
  return 0;
}

int deleteUser(const Config& config, const std::string& name) {
  const auto& file = usersFile(config);
  const FileLock lock = lockUsers(file);
  auto users = auth::UsersFile::load(file);
  if (!users.remove(name)) {
    return fail(file.string() + ": no user '" + name + "'");
  }
  users.save(file);
  std::cout << "deleted user " << name << "\n";
  return 0;
}

}  // namespace

void addUserCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto* user_cmd = app.add_subcommand("user", "manage SMTP AUTH users (access.users_file)");
  user_cmd->require_subcommand(1);
  auto name = std::make_shared<std::string>();

  auto* add = user_cmd->add_subcommand("add", "add a user or change a password (read from stdin)");
  add->add_option("NAME", *name, "user name")->required();
  add->callback([&global, &run, name] {
    run = withConfig(global, [name](const Config& c) { return addUser(c, *name); });
  });
  auto* del = user_cmd->add_subcommand("delete", "remove a user");
  del->add_option("NAME", *name, "user name")->required();
  del->callback([&global, &run, name] {
    run = withConfig(global, [name](const Config& c) { return deleteUser(c, *name); });
  });
}

}  // namespace relayguard::cli
