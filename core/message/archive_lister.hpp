// archive_lister: lists the file names inside archive attachments (zip, 7z, rar, tar and its
// compressed forms, cab, iso, ...) with libarchive, reading from memory, so attachment rules
// can match "payload.exe" inside "invoice.zip".
//
// Hostile input is assumed: names are capped per attachment, nested archives are opened only
// down to a depth limit and read into memory only up to a byte cap, and every byte libarchive
// decompresses (and every name kept) is charged to a budget shared by the whole message, so a
// zip bomb or a 100 000-entry archive costs bounded time and memory. Only libarchive's
// in-process decompressors are used (never its external-program fallbacks), and mtree, which
// can refer to local files, is not enabled.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace relayguard {

struct ArchiveLimits {
  std::size_t max_entries = 10000;            // names listed per attachment, all levels together
  std::size_t max_depth = 3;                  // 1: only the attachment itself is opened
  std::uint64_t max_nested_bytes = 16 << 20;  // one nested archive read into memory
};

struct ArchiveListing {
  // File names (UTF-8, as stored, directories left out), each nested archive's names right
  // after the nested archive's own name.
  std::vector<std::string> entries;
  bool encrypted = false;         // an entry (or the header) is encrypted
  bool unreadable = false;        // not an archive libarchive reads, or a read error
  bool too_many_entries = false;  // max_entries reached; the rest is not listed
  bool too_deep = false;          // an archive nested deeper than max_depth was not opened
  bool too_large = false;         // a nested archive over max_nested_bytes, or budget exhausted
};

// True when the sniffed type or a file name says the bytes are an archive worth listing.
bool looksLikeArchive(std::string_view detected_type, const std::vector<std::string>& filenames);

// Lists `bytes` as an archive. `budget` is what libarchive may still produce (decompressed
// bytes plus kept names) and is decreased by what this call used.
ArchiveListing listArchive(std::string_view bytes, const ArchiveLimits& limits,
                           std::uint64_t& budget);

}  // namespace relayguard
