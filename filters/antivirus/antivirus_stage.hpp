// antivirus_stage: the `antivirus` stage: scans messages in-process with libclamav.
//
// Two ways to scan (key `scan`):
//   parts    (default) the raw message with libclamav's mail parser off, then every decoded leaf
//            part of the MIME view the other stages share (archives, documents, executables and
//            attached mail inside a part are still unpacked by libclamav). This is the model of
//            amavisd-new and MailScanner: the message is decoded once, by us, and the scanner
//            sees the files. Whenever the view may show less than libclamav's mail parser would
//            (wholeMessageReason() below: a MIME problem, uuencode or BinHex inside text, TNEF,
//            text converted from another charset, HTML while phishing signatures are loaded,
//            more bytes than max_scan_size), the message is scanned whole instead.
//   message  always the whole message through libclamav's mail parser, which decodes the MIME
//            structure a second time and keeps every line of it in memory meanwhile.
//
// pipeline.toml keys (the pipeline itself reads `on_error`; default tempfail, fail closed):
//   database        required; signature directory, relative to the rules directory
//   on_virus        reject | quarantine (default quarantine)
//   scan            parts | message (default parts)
//   max_scan_size   "100M"  bytes scanned per message; must not exceed max_file_size
//   max_file_size   "100M"  largest single file scanned
//   max_recursion   16      container nesting depth
//   max_files       10000   files inside one container
//   max_scan_time   "2m"    per message
//   reload_interval "60s"   how often the database directory is checked for changes
//   temp_dir        absolute path of an existing directory for ClamAV's scratch files (default:
//                   $RUNTIME_DIRECTORY, which systemd sets for RuntimeDirectory=, else $TMPDIR,
//                   else /tmp); a tmpfs spares the disk
// Exceeding any limit is reported as a virus (Heuristics.Limits.Exceeded.*), never as clean.
//
// Signature updates: the compiled engine is held through an atomic shared_ptr. At most once per
// reload_interval a scan posts a check of the database directory (names, sizes, mtimes) to the
// blocking pool; on a change a new engine is loaded and compiled there and swapped in, while
// scans keep using the old one (and finish on it). A database that fails to load is logged and
// the engine in force stays. A missing or empty database at start-up is a ConfigError.
// ClamAV's temporary files go to a private folder (mode 0700) below temp_dir, removed together
// with the stage. libclamav makes a directory per scan and a file per attachment there.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>

#include "core/message/mime_view.hpp"
#include "filters/antivirus/clamav_engine.hpp"
#include "filters/registry.hpp"

namespace relayguard::filters {

// Why `view` must be scanned whole, through libclamav's mail parser, instead of as its raw
// bytes plus its decoded parts; "" when the parts show everything that parser would decode. The
// reason is a MIME problem code of the view, or "uuencode-in-text", "binhex-in-text", "tnef",
// "converted-charset", "html-with-phishing-signatures", "scan-size" (raw bytes and parts
// together above max_scan_size, a limit that holds per message).
std::string_view wholeMessageReason(const MimeView& view, std::uint64_t raw_size,
                                    bool phishing_signatures, std::uint64_t max_scan_size);

class AntivirusStage : public BlockingStage {
 public:
  struct Options {
    std::filesystem::path database;
    Action on_virus = Action::kQuarantine;
    enum class Scan { kParts, kMessage };
    Scan scan = Scan::kParts;
    ClamLimits limits;
    std::chrono::seconds reload_interval{60};
    std::filesystem::path temp_dir;  // empty: $RUNTIME_DIRECTORY, $TMPDIR or /tmp
  };

  // Loads and compiles the database; throws std::runtime_error when that fails.
  explicit AntivirusStage(Options options);
  ~AntivirusStage() override;

  static std::unique_ptr<Stage> create(StageConfig& config);

  std::string_view name() const override { return "antivirus"; }
  StageResult evaluate(const MessageView& message, StageContext& ctx) const override;

  // Signatures in the engine currently in force, and when they were built.
  unsigned signatures() const;
  std::chrono::system_clock::time_point databaseTime() const;

 private:
  struct State;
  // The raw message and its parts, or the whole message (Options::scan, wholeMessageReason).
  ClamEngine::ScanResult scan(const ClamEngine& engine, const MessageView& message) const;
  std::shared_ptr<State> state_;
};

}  // namespace relayguard::filters
