// message_view: what a filter stage sees of a message: the envelope, the raw bytes, and the MIME
// view, which is built on first use (by whichever stage needs it first, on the blocking pool)
// and then shared, read-only, by every later stage. Parse once, share across stages.
#pragma once

#include <memory>
#include <mutex>
#include <string_view>

#include "core/message/envelope.hpp"
#include "core/message/mime_view.hpp"
#include "core/util/mapped_file.hpp"

namespace relayguard {

class MessageView {
 public:
  MessageView(const Envelope& envelope, const PagedBytes& raw, MimeLimits limits = {})
      : envelope_(envelope), raw_(raw), limits_(limits) {}
  MessageView(const MessageView&) = delete;
  MessageView& operator=(const MessageView&) = delete;

  const Envelope& envelope() const { return envelope_; }
  std::string_view raw() const { return raw_.data; }
  // raw() with the mapping it may lie in: a stage that reads it once, front to back, gives the
  // pages it is done with back (PagedBytes::forEachWindow), so that a large message costs a
  // window of memory per pass.
  const PagedBytes& paged() const { return raw_; }
  // Parses on the first call (thread-safe); CPU work: call it from the blocking pool.
  const MimeView& mime() const;

 private:
  const Envelope& envelope_;
  PagedBytes raw_;
  MimeLimits limits_;
  mutable std::once_flag once_;
  mutable std::unique_ptr<MimeView> mime_;
};

}  // namespace relayguard
