// queue_command: `relayguard queue list|show|flush|delete` over the spool of the config.
// list and show read the spool directly; flush and delete go through the running relay's
// control socket so they never race a delivery, and edit the spool directly only when no relay
// is running.
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/cli/commands.hpp"
#include "core/config/config.hpp"
#include "core/queue/spool.hpp"
#include "core/server/control_socket.hpp"
#include "core/util/durable_file.hpp"

namespace relayguard::cli {
namespace {

struct QueueArgs {
  bool json = false;
  std::string id;
};

nlohmann::json toListJson(const queue::QueuedMessage& m) {
  nlohmann::json rcpts = nlohmann::json::array();
  nlohmann::json states = nlohmann::json::array();
  for (const auto& r : m.recipients) {
    rcpts.push_back(r.address.str());
    states.push_back({{"address", r.address.str()},
                      {"status", toString(r.status)},
                      {"last_reply", r.last_reply}});
  }
  return {{"id", m.id.str()},
          {"mail_from", m.envelope.mail_from.str()},
          {"rcpt_to", rcpts},
          {"recipients", states},
          {"size", m.size},
          {"received", rfc3339(m.envelope.received)},
          {"attempts", m.attempts},
          {"next_attempt", rfc3339(m.next_attempt)},
          {"last_error", m.last_error}};
}

int listQueue(const Config& config, bool json) {
  queue::Spool spool(config.spool_dir);
  std::vector<std::string> problems;
  const auto messages = spool.list(&problems);
  for (const auto& p : problems) {
    std::cerr << p << "\n";
  }
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& m : messages) {
      out.push_back(toListJson(m));
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  for (const auto& m : messages) {
    std::cout << m.id.str() << "  " << m.size << "  " << rfc3339(m.envelope.received) << "  "
              << m.envelope.mail_from.bracketed() << "  attempts=" << m.attempts
              << "  next=" << rfc3339(m.next_attempt) << "\n";
    for (const auto& r : m.recipients) {
      std::cout << "    " << r.address.bracketed() << "  " << toString(r.status);
      if (!r.last_reply.empty()) {
        std::cout << "  (" << r.last_reply << ")";
      }
      std::cout << "\n";
    }
  }
  std::cout << "-- " << messages.size() << " message(s)\n";
  return 0;
}

std::optional<queue::QueueId> parseId(const std::string& text) {
  auto id = queue::QueueId::parse(text);
  if (!id) {
    std::cerr << "'" << text << "' is not a queue id\n";
  }
  return id;
}

int showMessage(const Config& config, const std::string& text) {
  const auto id = parseId(text);
  if (!id) {
    return 1;
  }
  queue::Spool spool(config.spool_dir);
  const auto record = spool.read(*id);
  if (!record) {
    return fail("queue id " + text + " not found");
  }
  std::cout << toListJson(*record).dump(2) << "\n\n" << spool.readMessage(*id);
  return 0;
}

// Sends a request to the running relay; nullopt when none is running.
std::optional<nlohmann::json> askRelay(const Config& config, const nlohmann::json& request) {
  return ControlSocket::request(config.spool_dir / "control.sock", request);
}

std::string errorOf(const nlohmann::json& answer) {
  return answer.value("error", std::string("no reason given"));
}

int flushQueue(const Config& config) {
  if (const auto answer = askRelay(config, {{"command", "queue.flush"}})) {
    if (answer->value("ok", false)) {
      std::cout << "flush requested: every queued message is due now\n";
      return 0;
    }
    return fail("relay refused: " + errorOf(*answer));
  }
  const auto lock = lockIdleSpool(config);
  if (!lock) {
    return 1;
  }
  queue::Spool spool(config.spool_dir);
  auto messages = spool.list();
  for (auto& m : messages) {
    m.next_attempt = std::chrono::system_clock::now();
    spool.update(m);
  }
  std::cout << "no relay running: " << messages.size()
            << " message(s) will be tried as soon as it starts\n";
  return 0;
}

int deleteMessage(const Config& config, const std::string& text) {
  const auto id = parseId(text);
  if (!id) {
    return 1;
  }
  if (const auto answer = askRelay(config, {{"command", "queue.delete"}, {"id", text}})) {
    if (answer->value("ok", false)) {
      std::cout << "deleted " << text << "\n";
      return 0;
    }
    return fail("cannot delete " + text + ": " + errorOf(*answer));
  }
  const auto lock = lockIdleSpool(config);
  if (!lock) {
    return 1;
  }
  queue::Spool spool(config.spool_dir);
  if (!spool.remove(*id)) {
    return fail("queue id " + text + " not found");
  }
  std::cout << "deleted " << text << "\n";
  return 0;
}

}  // namespace

void addQueueCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto* queue_cmd = app.add_subcommand("queue", "inspect and manage the delivery queue");
  queue_cmd->require_subcommand(1);
  auto args = std::make_shared<QueueArgs>();
  auto* list = queue_cmd->add_subcommand("list", "list queued messages");
  list->add_flag("--json", args->json, "print one JSON array");
  list->callback([&global, &run, args] {
    run = withConfig(global, [args](const Config& c) { return listQueue(c, args->json); });
  });

  auto* show = queue_cmd->add_subcommand("show", "show one message and its delivery state");
  show->add_option("ID", args->id, "queue id")->required();
  show->callback([&global, &run, args] {
    run = withConfig(global, [args](const Config& c) { return showMessage(c, args->id); });
  });

  auto* flush = queue_cmd->add_subcommand("flush", "try every queued message now");
  flush->callback([&global, &run] { run = withConfig(global, flushQueue); });

  auto* del = queue_cmd->add_subcommand("delete", "remove a message from the queue");
  del->add_option("ID", args->id, "queue id")->required();
  del->callback([&global, &run, args] {
    run = withConfig(global, [args](const Config& c) { return deleteMessage(c, args->id); });
  });
}

}  // namespace relayguard::cli
