// queue_id: generation and validation of queue ids (see queue_id.hpp).
#include "core/queue/queue_id.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>

#include <openssl/rand.h>

namespace relayguard::queue {
namespace {

constexpr char kAlphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";  // base32, sortable

}  // namespace

QueueId QueueId::generate() {
  static std::atomic<std::uint64_t> counter{0};
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  unsigned char random[5];
  if (RAND_bytes(random, sizeof random) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  std::uint64_t r = 0;
  for (unsigned char b : random) {
    r = (r << 8) | b;
  }
  // Mix a process-wide counter into the random part so two ids made in the same microsecond
  // never collide even if the random bytes did.
  r ^= counter.fetch_add(1, std::memory_order_relaxed) & 0xffff;
  std::string id(20, '0');
  auto t = static_cast<std::uint64_t>(us);
  for (int i = 11; i >= 0; --i) {  // 12 chars * 5 bits = 60 bits of microseconds
    id[static_cast<size_t>(i)] = kAlphabet[t & 31];
    t >>= 5;
  }
  for (int i = 19; i >= 12; --i) {  // 8 chars * 5 bits = 40 random bits
    id[static_cast<size_t>(i)] = kAlphabet[r & 31];
    r >>= 5;
  }
  return QueueId(std::move(id));
}

std::optional<QueueId> QueueId::parse(std::string_view text) {
  if (text.size() < 8 || text.size() > 32) {
    return std::nullopt;
  }
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) {
      return std::nullopt;
    }
  }
  return QueueId(std::string(text));
}

}  // namespace relayguard::queue
