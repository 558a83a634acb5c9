// file_type: sniffs the MIME type of decoded bytes with libmagic ("application/zip",
// "application/x-dosexec", "text/plain", ...). A magic_t is not thread-safe, so each thread
// lazily opens its own (thread_local) with the system's default database; compressed-file
// checks are off, so nothing is decompressed here.
//
// Cost: libmagic's soft-magic database is mostly regular expressions for text formats, which
// makes a full sniff of text slow (about 1 ms even for a few hundred bytes, against tens of
// microseconds for binary data). isText() runs only libmagic's encoding checks and is cheap;
// sniffMimeType() looks at less of a body that is text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace relayguard {

// How much of a body the full sniff looks at: binary formats keep their magic near the start
// (ISO 9660 at 32 KiB is the farthest that matters); text formats declare themselves early.
inline constexpr std::size_t kSniffBytes = 64 * 1024;
inline constexpr std::size_t kTextSniffBytes = 8 * 1024;
// How much isText() looks at.
inline constexpr std::size_t kTextCheckBytes = 4 * 1024;

// The sniffed MIME type in lower case, or "" when libmagic is unavailable or fails.
std::string sniffMimeType(std::string_view bytes);

// True when libmagic's encoding check (no soft magic) finds the start of `bytes` to be text.
bool isText(std::string_view bytes);

}  // namespace relayguard
