// control_commands: dispatching control-socket requests (see control_commands.hpp).
#include "core/server/control_commands.hpp"

#include "core/delivery/scheduler.hpp"

namespace relayguard {
namespace {

nlohmann::json failure(std::string_view status, const std::string& error) {
  return {{"ok", false}, {"status", status}, {"error", error}};
}

nlohmann::json fromOutcome(const ReviewOutcome& outcome) {
  switch (outcome.status) {
    case ReviewOutcome::Status::kDone:
      return {{"ok", true}, {"deleted", outcome.count}, {"skipped", outcome.skipped}};
    case ReviewOutcome::Status::kNotFound:
      return failure("not_found", "not found");
    case ReviewOutcome::Status::kBusy:
      return failure("busy", "another operator is working on it, try again");
    case ReviewOutcome::Status::kFailed:
      break;
  }
  return failure("failed", outcome.detail);
}

std::string stringField(const nlohmann::json& request, const char* key) {
  const auto it = request.find(key);
  if (it == request.end() || it->is_null()) {
    return "";
  }
  if (!it->is_string()) {
    throw std::invalid_argument(std::string("'") + key + "' must be a string");
  }
  return it->get<std::string>();
}

}  // namespace

asio::awaitable<nlohmann::json> ControlCommands::handle(const nlohmann::json& request,
                                                        const ControlPeer& peer) {
  if (!request.is_object()) {
    co_return failure("bad_request", "a request is a JSON object");
  }
  try {
    const std::string command = stringField(request, "command");
    if (command == "ping") {
      co_return nlohmann::json{{"ok", true}};
    }
    if (command.starts_with("quarantine.")) {
      co_return co_await quarantineCommand(command, request, peer);
    }
    if (scheduler_ == nullptr) {
      co_return failure("bad_request", "'" + command + "' needs a running relay");
    }
    if (command == "queue.flush") {
      scheduler_->flush();
      co_return nlohmann::json{{"ok", true}};
    }
    if (command == "queue.delete") {
      co_return co_await queueDelete(request);
    }
    co_return failure("bad_request", "unknown command '" + command + "'");
  } catch (const std::invalid_argument& e) {
    co_return failure("bad_request", e.what());
  }
}

asio::awaitable<nlohmann::json> ControlCommands::queueDelete(const nlohmann::json& request) {
  const auto id = queue::QueueId::parse(stringField(request, "id"));
  if (!id) {
    co_return failure("bad_request", "bad queue id");
  }
  const auto removed = co_await scheduler_->remove(*id);
  switch (removed) {
    case delivery::Scheduler::RemoveResult::kRemoved:
      co_return nlohmann::json{{"ok", true}};
    case delivery::Scheduler::RemoveResult::kBusy:
      co_return failure("busy", "being delivered, try again");
    case delivery::Scheduler::RemoveResult::kNotFound:
      break;
  }
  co_return failure("not_found", "not found");
}

asio::awaitable<nlohmann::json> ControlCommands::quarantineCommand(const std::string& command,
                                                                   const nlohmann::json& request,
                                                                   const ControlPeer& peer) {
  const ReviewRequest who{peer.user, stringField(request, "reason")};
  if (command == "quarantine.purge") {
    const auto before = request.find("before_ms");
    if (before == request.end() || !before->is_number_integer()) {
      co_return failure("bad_request", "'before_ms' must be a time in Unix milliseconds");
    }
    const SystemTime cutoff{std::chrono::milliseconds(before->get<std::int64_t>())};
    const ReviewOutcome outcome = co_await quarantine_.purge(cutoff, who);
    co_return fromOutcome(outcome);
  }
  const std::string id = stringField(request, "id");
  if (!queue::QueueId::parse(id)) {
    co_return failure("bad_request", "bad quarantine id '" + id + "'");
  }
  if (command == "quarantine.delete") {
    const ReviewOutcome outcome = co_await quarantine_.remove(id, who);
    co_return fromOutcome(outcome);
  }
  if (command != "quarantine.release") {
    co_return failure("bad_request", "unknown command '" + command + "'");
  }
  std::vector<Address> to;
  const auto to_field = request.find("to");
  if (to_field != request.end() && !to_field->is_null() && !to_field->is_array()) {
    co_return failure("bad_request", "'to' must be an array of addresses");
  }
  if (to_field != request.end() && to_field->is_array()) {
    for (const auto& a : *to_field) {
      const auto address =
          a.is_string() ? Address::parseMailbox(a.get<std::string>()) : std::optional<Address>();
      if (!address) {
        co_return failure("bad_request", "bad recipient address " + a.dump());
      }
      to.push_back(*address);
    }
  }
  const ReviewOutcome outcome = co_await quarantine_.release(id, std::move(to), who);
  co_return fromOutcome(outcome);
}

}  // namespace relayguard
