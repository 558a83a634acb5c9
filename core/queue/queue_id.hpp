// queue_id: the identifier of a message in the spool, shown in the 250 reply, logs, the CLI and
// the audit log. 20 characters [0-9A-Z]: a microsecond timestamp (so ids sort by arrival) and
// random bits. parse() accepts only that alphabet and length range, so an id typed on the
// command line can never become a path outside the spool (Postfix mail_queue_id_ok()).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace relayguard::queue {

class QueueId {
 public:
  static QueueId generate();
  static std::optional<QueueId> parse(std::string_view text);
  const std::string& str() const { return id_; }
  bool operator==(const QueueId&) const = default;
  auto operator<=>(const QueueId&) const = default;

 private:
  explicit QueueId(std::string id) : id_(std::move(id)) {}
  std::string id_;
};

}  // namespace relayguard::queue
