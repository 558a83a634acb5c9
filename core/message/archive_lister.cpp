// archive_lister: bounded archive listing over libarchive (see archive_lister.hpp).
#include "core/message/archive_lister.hpp"

#include <algorithm>
#include <array>
#include <memory>

#include <archive.h>
#include <archive_entry.h>

#include "core/util/strings.hpp"

namespace relayguard {
namespace {

constexpr std::size_t kMaxNameBytes = 4096;   // longer names are cut
constexpr std::uint64_t kEntryOverhead = 64;  // budget charged per listed name besides its bytes
constexpr std::size_t kHeadBytes = 512;       // read to recognise an archive inside an archive
constexpr std::size_t kSniffedEntries = 16;   // entries per archive checked for archive magic
constexpr int kMaxHeaderFailures = 16;        // bad entry headers before giving up on an archive

struct ArchiveFree {
  void operator()(archive* a) const noexcept { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveFree>;

using SupportFn = int (*)(archive*);

// Decompression filters that libarchive runs in-process in this build. A filter whose support
// call does not return ARCHIVE_OK would fork an external program, so it is left out.
const std::vector<SupportFn>& inProcessFilters() {
  static const std::vector<SupportFn> filters = [] {
    const std::array<SupportFn, 9> candidates{
        archive_read_support_filter_gzip, archive_read_support_filter_bzip2,
        archive_read_support_filter_xz,   archive_read_support_filter_lzma,
        archive_read_support_filter_lzip, archive_read_support_filter_zstd,
        archive_read_support_filter_lz4,  archive_read_support_filter_compress,
        archive_read_support_filter_uu};
    std::vector<SupportFn> ok;
    for (const SupportFn fn : candidates) {
      ArchivePtr probe(archive_read_new());
      if (probe && fn(probe.get()) == ARCHIVE_OK) {
        ok.push_back(fn);
      }
    }
    return ok;
  }();
  return filters;
}

constexpr std::array<SupportFn, 11> kFormats{
    archive_read_support_format_7zip,    archive_read_support_format_ar,
    archive_read_support_format_cab,     archive_read_support_format_cpio,
    archive_read_support_format_iso9660, archive_read_support_format_lha,
    archive_read_support_format_rar,     archive_read_support_format_rar5,
    archive_read_support_format_tar,     archive_read_support_format_xar,
    archive_read_support_format_zip};

constexpr std::array<std::string_view, 24> kArchiveExtensions{
    ".zip", ".jar",  ".7z",  ".rar", ".tar", ".tgz",  ".gz",  ".bz2",
    ".tbz", ".tbz2", ".xz",  ".txz", ".zst", ".tzst", ".lz",  ".lzma",
    ".lz4", ".lzh",  ".lha", ".cab", ".iso", ".cpio", ".xar", ".z"};

constexpr std::array<std::string_view, 26> kArchiveTypes{"application/zip",
                                                         "application/x-zip-compressed",
                                                         "application/java-archive",
                                                         "application/x-7z-compressed",
                                                         "application/x-rar",
                                                         "application/vnd.rar",
                                                         "application/x-rar-compressed",
                                                         "application/x-tar",
                                                         "application/x-gtar",
                                                         "application/gzip",
                                                         "application/x-gzip",
                                                         "application/x-bzip2",
                                                         "application/x-xz",
                                                         "application/zstd",
                                                         "application/x-lzip",
                                                         "application/x-lzma",
                                                         "application/x-lz4",
                                                         "application/x-lha",
                                                         "application/x-lharc",
                                                         "application/vnd.ms-cab-compressed",
                                                         "application/x-iso9660-image",
                                                         "application/x-cpio",
                                                         "application/x-archive",
                                                         "application/x-xar",
                                                         "application/x-compress",
                                                         "application/x-ustar"};

bool hasArchiveExtension(std::string_view name) {
  const std::string lower = toLower(name);
  return std::any_of(kArchiveExtensions.begin(), kArchiveExtensions.end(),
                     [&](std::string_view ext) { return std::string_view(lower).ends_with(ext); });
}

// Magic numbers of the formats and filters registered above.
bool hasArchiveSignature(std::string_view head) {
  using std::literals::string_view_literals::operator""sv;
  constexpr std::array<std::string_view, 12> kMagic{
      "PK\x03\x04"sv,  // zip
      "PK\x05\x06"sv,  // empty zip
      "Rar!\x1a\x07"sv,
      "7z\xbc\xaf\x27\x1c"sv,
      "\x1f\x8b"sv,  // gzip
      "BZh"sv,
      "\xfd\x37zXZ\x00"sv,       // xz
      "MSCF\x00\x00\x00\x00"sv,  // cab
      "\x28\xb5\x2f\xfd"sv,      // zstd
      "!<arch>\n"sv,
      "070707"sv,  // cpio (odc)
      "070701"sv,  // cpio (newc)
  };
  for (const std::string_view magic : kMagic) {
    if (head.starts_with(magic)) {
      return true;
    }
  }
  return head.size() >= 262 && head.substr(257, 5) == "ustar";
}

// A zip ends with an end-of-central-directory record, within the last 64 KiB + 22 bytes.
bool hasZipEndRecord(std::string_view bytes) {
  constexpr std::size_t kMaxTail = 65535 + 22;
  const std::string_view tail = bytes.substr(bytes.size() - std::min(bytes.size(), kMaxTail));
  return tail.find(std::string_view("PK\x05\x06", 4)) != std::string_view::npos;
}

class Lister {
 public:
  Lister(const ArchiveLimits& limits, std::uint64_t& budget, ArchiveListing& out)
      : limits_(limits), budget_(budget), out_(out) {}

  void list(std::string_view bytes, std::size_t level) {
    if (level > limits_.max_depth) {
      out_.too_deep = true;
      return;
    }
    if (ArchivePtr a = open(bytes, false)) {
      listEntries(a.get(), level, false);
      if ((archive_format(a.get()) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_ZIP &&
          !hasZipEndRecord(bytes)) {
        // libarchive falls back to reading local headers; the zip is damaged or truncated
        // and other tools may see other entries (or none).
        out_.unreadable = true;
      }
      return;
    }
    // Not an archive format; a lone compressed file (report.doc.gz) is one raw stream.
    ArchivePtr raw = open(bytes, true);
    if (!raw || archive_filter_count(raw.get()) <= 1) {
      out_.unreadable = true;
      return;
    }
    listEntries(raw.get(), level, true);
  }

 private:
  static ArchivePtr open(std::string_view bytes, bool raw) {
    ArchivePtr a(archive_read_new());
    if (!a) {
      return nullptr;
    }
    for (const SupportFn fn : inProcessFilters()) {
      fn(a.get());
    }
    if (raw) {
      archive_read_support_format_raw(a.get());
    } else {
      for (const SupportFn fn : kFormats) {
        fn(a.get());
      }
    }
    if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK) {
      return nullptr;
    }
    return a;
  }

  bool charge(std::uint64_t n) {
    if (n > budget_) {
      budget_ = 0;
      out_.too_large = true;
      return false;
    }
    budget_ -= n;
    return true;
  }

  // Skipping is free when libarchive can jump over the data (zip reads its central directory;
  // uncompressed tar/cpio/ar/iso seek in memory); otherwise it decompresses, so it is paid for.
  static bool cheapSkip(archive* a) {
    const int format = archive_format(a) & ARCHIVE_FORMAT_BASE_MASK;
    if (format == ARCHIVE_FORMAT_ZIP) {
      return true;
    }
    return archive_filter_count(a) <= 1 &&
           (format == ARCHIVE_FORMAT_TAR || format == ARCHIVE_FORMAT_CPIO ||
            format == ARCHIVE_FORMAT_AR || format == ARCHIVE_FORMAT_ISO9660);
  }

  // Skips the rest of the current entry after `already` bytes were read. False: stop listing.
  bool skipRest(archive* a, archive_entry* entry, std::uint64_t already) {
    if (!cheapSkip(a)) {
      if (archive_entry_size_is_set(entry) != 0) {
        const auto size =
            static_cast<std::uint64_t>(std::max<la_int64_t>(archive_entry_size(entry), 0));
        if (!charge(size > already ? size - already : 0)) {
          return false;
        }
      } else {
        std::array<char, 16384> sink;
        la_ssize_t n = 0;
        while ((n = archive_read_data(a, sink.data(), sink.size())) > 0) {
          if (!charge(static_cast<std::uint64_t>(n))) {
            return false;
          }
        }
        if (n < 0) {
          return n != ARCHIVE_FATAL;  // the next header read tells whether listing can go on
        }
      }
    }
    return archive_read_data_skip(a) != ARCHIVE_FATAL;
  }

  enum class ReadResult { ok, error, budget };

  // Appends up to `cap` more bytes of the current entry to `data`; `ended` tells whether the
  // entry's end was reached.
  ReadResult read(archive* a, std::size_t cap, std::string& data, bool& ended) {
    std::array<char, 16384> buf;
    ended = false;
    while (data.size() < cap) {
      const std::size_t want = std::min(buf.size(), cap - data.size());
      const la_ssize_t n = archive_read_data(a, buf.data(), want);
      if (n == 0) {
        ended = true;
        return ReadResult::ok;
      }
      if (n < 0) {
        out_.unreadable = true;
        return ReadResult::error;
      }
      if (!charge(static_cast<std::uint64_t>(n))) {
        return ReadResult::budget;
      }
      data.append(buf.data(), static_cast<std::size_t>(n));
    }
    return ReadResult::ok;
  }

  void listEntries(archive* a, std::size_t level, bool raw) {
    std::size_t sniffs_left = kSniffedEntries;
    int failures = 0;
    archive_entry* entry = nullptr;
    while (true) {
      const int rc = archive_read_next_header(a, &entry);
      if (rc == ARCHIVE_EOF) {
        break;
      }
      if (rc < ARCHIVE_WARN || rc == ARCHIVE_RETRY) {
        out_.unreadable = true;
        if (archive_read_has_encrypted_entries(a) == 1) {
          out_.encrypted = true;
        }
        if (rc == ARCHIVE_FATAL || ++failures >= kMaxHeaderFailures) {
          break;
        }
        continue;
      }
      const bool regular = archive_entry_filetype(entry) == AE_IFREG;
      std::string name;
      if (!raw) {
        if (archive_entry_filetype(entry) == AE_IFDIR) {
          continue;
        }
        if (listed_ >= limits_.max_entries) {
          out_.too_many_entries = true;
          break;
        }
        const char* path = archive_entry_pathname_utf8(entry);
        if (path == nullptr) {
          path = archive_entry_pathname(entry);
        }
        name = path == nullptr ? std::string() : std::string(path);
        if (name.size() > kMaxNameBytes) {
          name.resize(kMaxNameBytes);
        }
        if (!charge(name.size() + kEntryOverhead)) {
          break;
        }
        out_.entries.push_back(name);
        ++listed_;
      }
      if (archive_entry_is_encrypted(entry) != 0) {
        out_.encrypted = true;
        if (!skipRest(a, entry, 0)) {
          break;
        }
        continue;
      }
      const bool by_name = !raw && hasArchiveExtension(name);
      if (!regular || !(raw || by_name || sniffs_left > 0)) {
        if (!skipRest(a, entry, 0)) {
          break;
        }
        continue;
      }
      if (!raw && !by_name) {
        --sniffs_left;
      }
      if (!inspect(a, entry, level, raw) || raw) {
        break;  // a raw stream has one entry; reading on would only decompress it to skip it
      }
    }
    if (archive_read_has_encrypted_entries(a) == 1) {
      out_.encrypted = true;
    }
  }

  // Looks at one entry's first bytes and lists it as a nested archive if it is one.
  // False: stop listing this archive.
  bool inspect(archive* a, archive_entry* entry, std::size_t level, bool raw) {
    std::string data;
    bool ended = false;
    ReadResult rr = read(a, kHeadBytes, data, ended);
    if (rr != ReadResult::ok) {
      return rr == ReadResult::error;  // a broken entry; the next header read decides
    }
    const bool nested = hasArchiveSignature(data);
    if (nested && level >= limits_.max_depth) {
      out_.too_deep = true;
    }
    if (!nested || level >= limits_.max_depth) {
      return ended || raw || skipRest(a, entry, data.size());
    }
    if (!ended) {
      const std::size_t cap = static_cast<std::size_t>(limits_.max_nested_bytes);
      rr = read(a, cap + 1, data, ended);
      if (rr != ReadResult::ok) {
        return rr == ReadResult::error;
      }
      if (data.size() > cap) {
        out_.too_large = true;
        return raw || skipRest(a, entry, data.size());
      }
    }
    list(data, level + 1);
    return !out_.too_many_entries && budget_ > 0;
  }

  const ArchiveLimits& limits_;
  std::uint64_t& budget_;
  ArchiveListing& out_;
  std::size_t listed_ = 0;
};

}  // namespace

bool looksLikeArchive(std::string_view detected_type, const std::vector<std::string>& filenames) {
  if (std::find(kArchiveTypes.begin(), kArchiveTypes.end(), detected_type) != kArchiveTypes.end()) {
    return true;
  }
  return std::any_of(filenames.begin(), filenames.end(),
                     [](const std::string& name) { return hasArchiveExtension(name); });
}

ArchiveListing listArchive(std::string_view bytes, const ArchiveLimits& limits,
                           std::uint64_t& budget) {
  ArchiveListing listing;
  Lister(limits, budget, listing).list(bytes, 1);
  return listing;
}

}  // namespace relayguard
