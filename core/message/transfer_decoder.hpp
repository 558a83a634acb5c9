// transfer_decoder: undoes a part's Content-Transfer-Encoding (base64, quoted-printable,
// uuencode) with GMime's decoders, under a byte cap, and converts text to UTF-8.
//
// Base64 gets a check GMime's lenient decoder does not make: '=' padding followed by more
// base64 data. GMime stops at the padding, so whatever follows would be invisible to every
// filter; here each padded run is decoded on its own and the pieces are concatenated, which
// is what the most permissive mail clients show the recipient.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/util/mapped_file.hpp"

namespace relayguard {

enum class TransferEncoding { identity, base64, quoted_printable, uuencode };

struct DecodeResult {
  bool truncated = false;         // stopped at max_bytes
  bool malformed_base64 = false;  // padding in the middle of the data
  std::string uu_filename;        // the name on a uuencode "begin 644 name" line
  std::uint64_t file_bytes = 0;   // decodeTransferToFile: bytes written to the file
  int file_error = 0;             // decodeTransferToFile: the errno of a failed write, else 0
};

// Appends the decoded form of `encoded` to `out`, at most `max_bytes` bytes. When `encoded` lies
// in `source`, a mapped file, the pages read are given back as decoding goes.
DecodeResult decodeTransfer(std::string_view encoded, TransferEncoding encoding,
                            std::uint64_t max_bytes, std::string& out,
                            const PagedBytes& source = {});

// decodeTransfer into the open file `fd` (at its current offset) instead of memory, through a
// buffer of a few hundred KiB. A failed write (file_error) leaves the output incomplete.
DecodeResult decodeTransferToFile(std::string_view encoded, TransferEncoding encoding,
                                  std::uint64_t max_bytes, int fd, const PagedBytes& source = {});

// True when base64 text has '=' padding followed by further base64 characters (read a window at
// a time when `encoded` lies in `source`, a mapped file).
bool hasBase64PaddingInMiddle(std::string_view encoded, const PagedBytes& source = {});

// Whether text in `charset` (lower case, trimmed) is UTF-8 as it stands: UTF-8, US-ASCII, or no
// charset at all.
bool isUtf8Charset(std::string_view charset);

// Converts `text` from `charset` to UTF-8 in place. Invalid input bytes become U+FFFD. Returns
// false (text unchanged) when the charset is unknown; UTF-8, US-ASCII and "" are kept as is.
bool convertToUtf8(std::string& text, std::string_view charset);

}  // namespace relayguard
