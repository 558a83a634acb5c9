// queued_message: JSON form of the delivery state (see queued_message.hpp).
#include "core/queue/queued_message.hpp"

#include <stdexcept>

#include <nlohmann/json.hpp>

namespace relayguard::queue {
namespace {

Address addressFrom(const std::string& s) {
  if (s.empty()) {
    return Address::null();
  }
  auto a = Address::parseMailbox(s, true);
  if (!a) {
    throw std::runtime_error("bad address '" + s + "' in queue record");
  }
  return *a;
}

RecipientStatus statusFrom(const std::string& s) {
  if (s == "pending") {
    return RecipientStatus::kPending;
  }
  if (s == "delivered") {
    return RecipientStatus::kDelivered;
  }
  if (s == "failed") {
    return RecipientStatus::kFailed;
  }
  throw std::runtime_error("bad recipient status '" + s + "' in queue record");
}

}  // namespace

std::string_view toString(RecipientStatus s) {
  switch (s) {
    case RecipientStatus::kPending:
      return "pending";
    case RecipientStatus::kDelivered:
      return "delivered";
    case RecipientStatus::kFailed:
      return "failed";
  }
  return "pending";
}

QueuedMessage QueuedMessage::fromEnvelope(QueueId id, const Envelope& env, std::uint64_t size) {
  QueuedMessage m{std::move(id)};
  m.envelope = env;
  m.size = size;
  m.next_attempt = env.received;
  for (const auto& rcpt : env.rcpt_to) {
    RecipientState r;
    r.address = rcpt;
    m.recipients.push_back(std::move(r));
  }
  return m;
}

std::size_t QueuedMessage::pendingCount() const {
  std::size_t n = 0;
  for (const auto& r : recipients) {
    n += r.status == RecipientStatus::kPending ? 1 : 0;
  }
  return n;
}

nlohmann::json QueuedMessage::toJson() const {
  nlohmann::json rcpts = nlohmann::json::array();
  for (const auto& r : recipients) {
    rcpts.push_back({{"address", r.address.str()},
                     {"status", toString(r.status)},
                     {"last_reply", r.last_reply},
                     {"remote", r.remote},
                     {"bounced", r.bounced}});
  }
  return {
      {"version", 1},
      {"id", id.str()},
      {"mail_from", envelope.mail_from.str()},
      {"recipients", rcpts},
      {"client_ip", envelope.client_ip},
      {"helo", envelope.helo},
      {"auth_user",
       envelope.auth_user ? nlohmann::json(*envelope.auth_user) : nlohmann::json(nullptr)},
      {"tls", envelope.tls},
      {"smtputf8", envelope.smtputf8},
      {"body_8bit", envelope.body_8bit},
      {"received", toUnixSeconds(envelope.received)},
      {"size", size},
      {"attempts", attempts},
      {"next_attempt", toUnixSeconds(next_attempt)},
      {"last_error", last_error},
  };
}

QueuedMessage QueuedMessage::fromJson(const nlohmann::json& j) {
  try {
    if (j.at("version").get<int>() != 1) {
      throw std::runtime_error("unsupported queue record version");
    }
    auto id = QueueId::parse(j.at("id").get<std::string>());
    if (!id) {
      throw std::runtime_error("bad queue id in queue record");
    }
    QueuedMessage m{*id};
    m.envelope.mail_from = addressFrom(j.at("mail_from").get<std::string>());
    for (const auto& r : j.at("recipients")) {
      RecipientState s;
      s.address = addressFrom(r.at("address").get<std::string>());
      s.status = statusFrom(r.at("status").get<std::string>());
      s.last_reply = r.value("last_reply", "");
      s.remote = r.value("remote", "");
      s.bounced = r.value("bounced", false);
      m.envelope.rcpt_to.push_back(s.address);
      m.recipients.push_back(std::move(s));
    }
    m.envelope.client_ip = j.value("client_ip", "");
    m.envelope.helo = j.value("helo", "");
    if (j.contains("auth_user") && j["auth_user"].is_string()) {
      m.envelope.auth_user = j["auth_user"].get<std::string>();
    }
    m.envelope.tls = j.value("tls", false);
    m.envelope.smtputf8 = j.value("smtputf8", false);
    m.envelope.body_8bit = j.value("body_8bit", false);
    m.envelope.received = fromUnixSeconds(j.at("received").get<std::int64_t>());
    m.size = j.value("size", std::uint64_t{0});
    m.attempts = j.value("attempts", std::size_t{0});
    m.next_attempt = fromUnixSeconds(j.value("next_attempt", std::int64_t{0}));
    m.last_error = j.value("last_error", "");
    return m;
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(std::string("malformed queue record: ") + e.what());
  }
}

}  // namespace relayguard::queue
