// mime_view_fuzz: libFuzzer target for MimeView::parse (GMime, libmagic, libarchive behind it)
// and the URL helpers. The first input byte chooses the limits (defaults, or small ones so the
// depth, part, decoded-byte and archive caps are reached often); the rest is the message. The
// view is checked against the promises of mime_view.hpp: limits hold, problem codes are the
// documented ones and unique, URLs are non-empty and urlHost() copes with each. Any broken
// promise aborts (__builtin_trap); crashes, hangs and leaks are libFuzzer's to report.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/message/mime_view.hpp"
#include "core/message/url_extractor.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using relayguard::MimeLimits;
using relayguard::MimeView;

namespace problem = relayguard::mime_problem;

constexpr std::array<std::string_view, 14> kKnownProblems{
    problem::kDepthExceeded,         problem::kTooManyParts,         problem::kHeaderTooLarge,
    problem::kDecodedTooLarge,       problem::kMalformedBase64,      problem::kTruncatedMultipart,
    problem::kConflictingFilenames,  problem::kArchiveEncrypted,     problem::kArchiveUnreadable,
    problem::kArchiveTooManyEntries, problem::kArchiveDepthExceeded, problem::kArchiveTooLarge,
    problem::kAmbiguousStructure,    problem::kUnparseable};

MimeLimits limitsFor(std::uint8_t selector) {
  MimeLimits limits;
  if ((selector & 1) != 0) {
    limits.max_depth = selector % 5;
    limits.max_parts = 1 + selector % 7;
    limits.max_header_bytes = 64 + 32 * (selector % 9);
    limits.max_decoded_bytes = 256 + 512 * (selector % 5);
    limits.max_archive_entries = 1 + selector % 4;
    limits.max_archive_depth = selector % 3;
    limits.max_archive_nested_bytes = 1024;
    limits.max_archive_scan_bytes = 8192;
  }
  return limits;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const MimeLimits limits = limitsFor(data[0]);
  const std::string_view raw(reinterpret_cast<const char*>(data + 1), size - 1);
  const MimeView view = MimeView::parse(raw, limits);

  FUZZ_CHECK(view.parts().size() <= limits.max_parts);
  std::uint64_t decoded = 0;
  for (const auto& part : view.parts()) {
    FUZZ_CHECK(part.depth <= limits.max_depth);
    FUZZ_CHECK(!part.content_type.empty());
    FUZZ_CHECK(part.disposition.empty() || part.disposition == "inline" ||
               part.disposition == "attachment");
    FUZZ_CHECK(part.archive_entries.size() <= limits.max_archive_entries);
    FUZZ_CHECK(!part.is_text || !part.is_attachment);
    FUZZ_CHECK(!part.is_html || part.content_type == "text/html");
    for (const auto& name : part.filenames) {
      FUZZ_CHECK(!name.empty());
      FUZZ_CHECK(std::count(part.filenames.begin(), part.filenames.end(), name) == 1);
    }
    decoded += part.body.size();
  }
  FUZZ_CHECK(decoded <= limits.max_decoded_bytes);

  const auto& problems = view.problems();
  for (const auto& code : problems) {
    FUZZ_CHECK(std::find(kKnownProblems.begin(), kKnownProblems.end(), code) !=
               kKnownProblems.end());
    FUZZ_CHECK(std::count(problems.begin(), problems.end(), code) == 1);
  }
  for (const auto& url : view.urls()) {
    FUZZ_CHECK(!url.empty());
    FUZZ_CHECK(std::count(view.urls().begin(), view.urls().end(), url) == 1);
    const std::string host = relayguard::urlHost(url);
    FUZZ_CHECK(host.size() <= url.size());
  }
  std::size_t header_bytes = 0;
  for (const auto* name : {"Subject", "From", "Content-Type", "Received"}) {
    for (const auto& value : view.headerValues(name)) {
      header_bytes += value.size();
    }
  }
  // The cap is on raw bytes; decoding 8-bit or encoded-word text to UTF-8 can grow it (up to
  // three bytes per raw byte, plus replacement characters).
  FUZZ_CHECK(header_bytes <= 4 * limits.max_header_bytes);

  // The helpers straight on the input too: it is hostile text as much as any part body.
  std::vector<std::string> urls;
  relayguard::extractTextUrls(raw, urls);
  relayguard::extractHtmlUrls(raw, urls);
  for (const auto& url : urls) {
    FUZZ_CHECK(!url.empty());
    relayguard::urlHost(url);
  }
  relayguard::urlHost(raw);
  return 0;
}
