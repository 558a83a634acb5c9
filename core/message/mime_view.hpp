// mime_view: the parsed view of a message that every filter stage shares, built once per
// message (lazily, by MessageView) with GMime.
//
// Trust: the input is hostile. Parsing never throws on bad input and never runs unbounded:
// nesting depth, number of parts, header bytes, decoded bytes, archive entries and the bytes
// archive listing may decompress are capped (MimeLimits). Whatever is cut short or looks malformed
// in a way that could hide content (a limit hit, base64 with padding in the middle, a truncated
// multipart, an unreadable or encrypted archive) is recorded in problems() as a stable code that
// rules and stages can act on; it is never a silent pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/util/mapped_file.hpp"
#include "core/util/unique_fd.hpp"

namespace relayguard {

struct MimeLimits {
  std::size_t max_depth = 20;                            // multipart / message/rfc822 nesting
  std::size_t max_parts = 1000;                          // leaf parts
  std::size_t max_header_bytes = 256 * 1024;             // one part's header section
  std::uint64_t max_decoded_bytes = 64ULL << 20;         // all decoded bodies together
  std::size_t max_archive_entries = 10000;               // names listed per archive attachment
  std::size_t max_archive_depth = 3;                     // zip inside zip inside zip
  std::uint64_t max_archive_nested_bytes = 16ULL << 20;  // one archive inside an archive, in memory
  std::uint64_t max_archive_scan_bytes = 64ULL << 20;    // decompressed while listing archives,
                                                         // whole message
  // Where a decoded body that is not text goes when its encoded form is larger than
  // spill_threshold: an unnamed file there, read through a mapping (MimePart::spilled), so that
  // a large attachment is not held in memory. Empty: every body in memory.
  std::filesystem::path spill_dir;
  std::uint64_t spill_threshold = 1 << 20;
};

// Stable problem codes (problems()).
namespace mime_problem {
inline constexpr std::string_view kDepthExceeded = "mime-depth-exceeded";
inline constexpr std::string_view kTooManyParts = "mime-too-many-parts";
inline constexpr std::string_view kHeaderTooLarge = "mime-header-too-large";
inline constexpr std::string_view kDecodedTooLarge = "mime-decoded-too-large";
inline constexpr std::string_view kMalformedBase64 = "mime-malformed-base64";
inline constexpr std::string_view kTruncatedMultipart = "mime-truncated-multipart";
inline constexpr std::string_view kConflictingFilenames = "mime-conflicting-filenames";
inline constexpr std::string_view kArchiveEncrypted = "archive-encrypted";
inline constexpr std::string_view kArchiveUnreadable = "archive-unreadable";
inline constexpr std::string_view kArchiveTooManyEntries = "archive-too-many-entries";
// An archive nested deeper than max_archive_depth was not opened.
inline constexpr std::string_view kArchiveDepthExceeded = "archive-depth-exceeded";
// A nested archive over max_archive_nested_bytes, or max_archive_scan_bytes used up: the
// listing is incomplete.
inline constexpr std::string_view kArchiveTooLarge = "archive-too-large";
// GMime had to guess (conflicting Content-* or single-instance headers, a multipart without a
// boundary, an invalid header name, a part without headers or content): other software may
// see a different structure.
inline constexpr std::string_view kAmbiguousStructure = "mime-ambiguous-structure";
// Non-empty input GMime could not read as a message at all.
inline constexpr std::string_view kUnparseable = "mime-unparseable";
}  // namespace mime_problem

// A decoded body kept in an unnamed file instead of memory (MimeLimits::spill_dir).
struct SpilledBody {
  UniqueFd fd;
  MappedFile map;
};

struct MimePart {
  std::size_t depth = 0;               // 0 for a single-part message's body
  std::string content_type;            // declared, lower case "type/subtype" ("text/plain" if none)
  std::string charset;                 // lower case, may be empty
  std::string disposition;             // "attachment", "inline" or ""
  std::vector<std::string> filenames;  // every distinct decoded candidate name (UTF-8):
                                       // Content-Disposition filename and Content-Type name
                                       // (of every such field), RFC 2047 and RFC 2231 forms,
                                       // a uuencode "begin" line's name; empty if none
  std::string detected_type;           // MIME type sniffed from the decoded body (libmagic);
                                       // body text (is_text) that libmagic's encoding check
                                       // confirms is text keeps its declared type
  std::string body;                    // transfer-decoded bytes; text/* converted to UTF-8;
                                       // empty when spilled
  std::shared_ptr<const SpilledBody> spilled;  // a large non-text body, in a file (then body is
                                               // empty): read it through bytes()
  bool is_text = false;                        // text/plain or text/html, not an attachment
  bool is_html = false;                        // text/html, attachment or not
  bool is_attachment = false;                  // has a filename or disposition attachment
  // Names of the files inside an archive attachment (zip, 7z, rar, tar, ...), as stored; a
  // nested archive's names follow the nested archive's own name.
  std::vector<std::string> archive_entries;

  // The decoded body wherever it is: in memory, or the spilled file's mapping (a pass over it
  // gives the pages it has read back, PagedBytes::forEachWindow).
  PagedBytes bytes() const {
    return spilled ? PagedBytes(spilled->map.bytes(), &spilled->map, spilled->fd.get())
                   : PagedBytes(body);
  }
  std::uint64_t size() const { return spilled ? spilled->map.bytes().size() : body.size(); }
};

class MimeView {
 public:
  static MimeView parse(const PagedBytes& raw, const MimeLimits& limits = {});

  const std::vector<MimePart>& parts() const { return parts_; }
  // Every value of the named top-level header field, RFC 2047 decoded to UTF-8, unfolded. At
  // most max_header_bytes of header text are kept (the field crossing the cap is cut).
  std::vector<std::string> headerValues(std::string_view name) const;
  // URLs found in text/plain and text/html parts (attachments included: a phishing page is
  // often an .html attachment) after transfer and HTML entity decoding, deduplicated, in order
  // of appearance.
  const std::vector<std::string>& urls() const { return urls_; }
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::pair<std::string, std::string>> headers_;  // name (as sent), decoded value
  std::vector<MimePart> parts_;
  std::vector<std::string> urls_;
  std::vector<std::string> problems_;
  friend class MimeViewBuilder;
};

// The host of a URL in lower case ("" if it has none); IDNs stay as written. Userinfo and port
// are dropped, percent-escapes decoded, a trailing dot removed; an IPv6 literal comes back
// without its brackets ("2001:db8::1"). A URL without a scheme ("www.example.com/x") is read
// as starting with its host.
std::string urlHost(std::string_view url);

}  // namespace relayguard
