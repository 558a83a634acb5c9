// antivirus_stage: the `antivirus` stage: scans the whole raw message in-process with libclamav
// (MIME parts, transfer encodings, archives and attached messages are unpacked by ClamAV).
//
// pipeline.toml keys (the pipeline itself reads `on_error`; default tempfail, fail closed):
//   database        required; signature directory, relative to the rules directory
//   on_virus        reject | quarantine (default quarantine)
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
#include <filesystem>
#include <memory>

#include "filters/antivirus/clamav_engine.hpp"
#include "filters/registry.hpp"

namespace relayguard::filters {

class AntivirusStage : public BlockingStage {
 public:
  struct Options {
    std::filesystem::path database;
    Action on_virus = Action::kQuarantine;
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
  std::shared_ptr<State> state_;
};

}  // namespace relayguard::filters
