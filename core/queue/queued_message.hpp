// queued_message: the delivery state of one spooled message: its envelope and, per recipient,
// whether it is still pending, delivered or failed, with the last reply seen. Stored as JSON
// beside the message bytes (spool.hpp) and rewritten atomically after each attempt.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/message/envelope.hpp"
#include "core/queue/queue_id.hpp"

namespace relayguard::queue {

enum class RecipientStatus { kPending, kDelivered, kFailed };

struct RecipientState {
  Address address = Address::null();
  RecipientStatus status = RecipientStatus::kPending;
  std::string last_reply;  // "450 4.2.0 mailbox busy" or a connection error
  std::string remote;      // host that gave it
  bool bounced = false;    // a DSN was queued for this failure
};

struct QueuedMessage {
  // The id comes from whoever made the message (QueueId::generate() once, at the end of DATA)
  // or from the record on disk: never a fresh one nobody asked for.
  explicit QueuedMessage(QueueId message_id) : id(std::move(message_id)) {}

  QueueId id;
  Envelope envelope;
  std::vector<RecipientState> recipients;
  std::uint64_t size = 0;
  std::size_t attempts = 0;
  SystemTime next_attempt{};
  std::string last_error;

  static QueuedMessage fromEnvelope(QueueId id, const Envelope& env, std::uint64_t size);
  std::size_t pendingCount() const;
  nlohmann::json toJson() const;
  // Throws std::runtime_error (with the reason) on a malformed record.
  static QueuedMessage fromJson(const nlohmann::json& j);
};

std::string_view toString(RecipientStatus s);

}  // namespace relayguard::queue
