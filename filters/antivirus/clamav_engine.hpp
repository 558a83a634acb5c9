// clamav_engine: RAII wrapper around one compiled libclamav engine. Construction loads every
// signature file of a database directory with explicit scan limits and compiles the engine;
// afterwards the engine is read-only and scan() may be called from any number of threads.
//
// Scans run with heuristic alerts for exceeded limits and encrypted archives/documents, so that
// whatever ClamAV could not fully inspect (a huge file inside a small zip, a password-protected
// archive) is a finding rather than "clean".
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/util/mapped_file.hpp"

struct cl_engine;

namespace relayguard::filters {

struct ClamLimits {
  std::uint64_t max_scan_size = 100ULL << 20;  // bytes scanned per message, all parts together
  std::uint64_t max_file_size = 100ULL << 20;  // largest single file (or part) scanned
  std::uint32_t max_recursion = 16;            // container nesting depth
  std::uint32_t max_files = 10000;             // files inside one container
  std::chrono::milliseconds max_scan_time{std::chrono::minutes(2)};
};

class ClamEngine {
 public:
  struct ScanResult {
    bool infected = false;
    std::string virus;  // signature or heuristic name when infected
  };

  // Throws std::runtime_error (with ClamAV's error text) when the directory cannot be loaded,
  // holds no signatures, or the engine does not compile.
  // libclamav's clean cache remembers the hashes of bytes found clean; kOff is for measuring
  // scans of the same bytes again (bench/antivirus_scan_bench).
  enum class CleanCache { kOn, kOff };
  ClamEngine(const std::filesystem::path& database, const ClamLimits& limits,
             const std::filesystem::path& tmpdir, CleanCache cache = CleanCache::kOn);
  ~ClamEngine();
  ClamEngine(const ClamEngine&) = delete;
  ClamEngine& operator=(const ClamEngine&) = delete;

  unsigned signatures() const { return signatures_; }
  // When the signatures were built: the newest .cvd/.cld header time ClamAV reports, or for
  // plain signature files (no header) the newest file modification time in the directory.
  std::chrono::system_clock::time_point databaseTime() const { return database_time_; }

  // Whether the database may hold phishing signatures (.pdb, .wdb, .gdb, or a .cvd/.cld/.cud
  // container, which can carry them): libclamav checks those only inside its mail parser.
  bool phishingSignatures() const { return phishing_; }

  // kOn: input that libclamav recognises as mail (a whole message, or an attached one) is
  // unpacked by its mail parser. kOff: the bytes are scanned as they are, though every other
  // parser (archives, documents, executables, HTML, ...) still runs on what it recognises.
  enum class MailParser { kOn, kOff };
  // Scans `data` where it lies, in memory or in a file's mapping (whose pages are given back
  // afterwards): libclamav copies none of it. `name` appears in libclamav's debug output.
  // Throws std::runtime_error on any ClamAV error.
  ScanResult scan(const PagedBytes& data, MailParser mail = MailParser::kOn,
                  const char* name = "message") const;

 private:
  struct EngineFree {
    void operator()(cl_engine* engine) const;
  };
  std::unique_ptr<cl_engine, EngineFree> engine_;
  unsigned signatures_ = 0;
  bool phishing_ = false;
  std::chrono::system_clock::time_point database_time_{};
};

}  // namespace relayguard::filters
