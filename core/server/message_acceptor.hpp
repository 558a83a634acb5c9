// message_acceptor: what the relay does with a message at the end of DATA, before it answers:
// check the hop count, add the Received: header, store the message durably in the spool and
// hand it to the scheduler. Only a message that is on disk gets 250 with its queue id; a failed
// write answers 451 (452 when the disk is full) and nothing is kept.
#pragma once

#include <asio/thread_pool.hpp>
#include <functional>

#include "core/config/config.hpp"
#include "core/queue/spool.hpp"
#include "core/smtp/session.hpp"

namespace relayguard {

// The Received: header (RFC 5321 4.4) the relay prepends, folded, ending in CRLF.
std::string receivedHeader(const Envelope& env, const std::string& hostname,
                           const std::string& queue_id);
// Number of Received: fields in the message's header section.
std::size_t countReceived(std::string_view message);

class MessageAcceptor : public smtp::MessageHandler {
 public:
  using QueuedCallback = std::function<void(queue::QueuedMessage)>;
  MessageAcceptor(const Config& config, queue::Spool& spool, asio::thread_pool& blocking,
                  QueuedCallback on_queued);

  asio::awaitable<smtp::Reply> handleMessage(const Envelope& envelope,
                                             const std::string& message) override;

 private:
  const Config& config_;
  queue::Spool& spool_;
  asio::thread_pool& blocking_;
  QueuedCallback on_queued_;
};

}  // namespace relayguard
