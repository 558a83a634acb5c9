// connection_limiter: total and per-address connection caps (see connection_limiter.hpp).
#include "core/smtp/connection_limiter.hpp"

namespace relayguard {

ConnectionLimiter::Ticket::~Ticket() {
  owner_->release(ip_);
}

std::unique_ptr<ConnectionLimiter::Ticket> ConnectionLimiter::acquire(const std::string& ip,
                                                                      Refusal& why) {
  std::lock_guard lock(mutex_);
  if (total_ >= max_total_) {
    why = Refusal::kTotal;
    return nullptr;
  }
  auto& n = per_ip_[ip];
  if (n >= max_per_ip_) {
    why = Refusal::kPerIp;
    if (n == 0) {
      per_ip_.erase(ip);
    }
    return nullptr;
  }
  ++n;
  ++total_;
  why = Refusal::kNone;
  return std::make_unique<Ticket>(this, ip);
}

void ConnectionLimiter::release(const std::string& ip) {
  std::lock_guard lock(mutex_);
  --total_;
  const auto it = per_ip_.find(ip);
  if (it != per_ip_.end() && --it->second == 0) {
    per_ip_.erase(it);
  }
}

std::size_t ConnectionLimiter::total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

}  // namespace relayguard
