// connection_limiter: caps concurrent SMTP connections in total and per client address
// ([limits] max_connections, max_connections_per_ip). A Ticket holds one slot and releases it when
// destroyed, so a session that ends in any way gives its slot back.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace relayguard {

class ConnectionLimiter {
 public:
  class Ticket {
   public:
    Ticket(ConnectionLimiter* owner, std::string ip) : owner_(owner), ip_(std::move(ip)) {}
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket();

   private:
    ConnectionLimiter* owner_;
    std::string ip_;
  };

  enum class Refusal { kNone, kTotal, kPerIp };

  ConnectionLimiter(std::size_t max_total, std::size_t max_per_ip)
      : max_total_(max_total), max_per_ip_(max_per_ip) {}

  // A ticket, or nullptr with the reason in `why`.
  std::unique_ptr<Ticket> acquire(const std::string& ip, Refusal& why);
  std::size_t total() const;

 private:
  void release(const std::string& ip);
  const std::size_t max_total_;
  const std::size_t max_per_ip_;
  mutable std::mutex mutex_;
  std::size_t total_ = 0;
  std::unordered_map<std::string, std::size_t> per_ip_;
};

}  // namespace relayguard
