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
// The first value of a header field (case-insensitive name), trimmed; empty if absent.
std::string firstHeaderValue(std::string_view message, std::string_view name);
// Number of Received: fields.
std::size_t countReceived(std::string_view message);

}  // namespace relayguard
