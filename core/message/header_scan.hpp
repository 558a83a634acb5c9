// header_scan: a cheap walk over the top-level header fields of a raw message (CRLF lines, up
// to the first empty line), for the few facts the relay needs on every message without a full
// MIME parse: the Message-ID and the Received: hop count. Folded lines are unfolded; values are
// not decoded (use MimeView for that).
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace relayguard {

// Calls fn(name, value) for every header field, in order; stops early when fn returns false.
void forEachHeaderField(std::string_view message,
                        const std::function<bool(std::string_view, std::string_view)>& fn);
// What the relay needs of every message's header section, gathered in one pass.
struct HeaderFacts {
  std::size_t bytes = 0;     // size of the header section (up to the empty line)
  std::size_t received = 0;  // number of Received: fields (the hop count)
  std::string message_id;    // first Message-ID value, trimmed; empty if absent
  std::string subject;       // first Subject value, undecoded; empty if absent
};
HeaderFacts headerFacts(std::string_view message);

}  // namespace relayguard
