// clamav_engine: loading, compiling and scanning with libclamav (see clamav_engine.hpp).
#include "filters/antivirus/clamav_engine.hpp"

#include <mutex>
#include <stdexcept>
#include <string>

#include <clamav.h>

#include "core/util/log_event.hpp"

namespace relayguard::filters {
namespace {

// Where the first error libclamav reports during the scan running on this thread goes. A
// thread-local, not the callback's context argument: libclamav reports some errors (its per-scan
// directory) before it has the scan's context at hand, with a null context.
thread_local std::string* t_scan_error = nullptr;

// Points this thread's message callback at `error` for the life of one scan.
class CollectScanError {
 public:
  explicit CollectScanError(std::string& error) { t_scan_error = &error; }
  CollectScanError(const CollectScanError&) = delete;
  CollectScanError& operator=(const CollectScanError&) = delete;
  ~CollectScanError() { t_scan_error = nullptr; }
};

// libclamav's own messages go to our log; its errors explain why a database did not load, and
// during a scan why the scan could not be finished.
void logClamMessage(enum cl_msg severity, const char* /*fullmsg*/, const char* msg,
                    void* /*context*/) {
  std::string_view text(msg != nullptr ? msg : "");
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  if (severity == CL_MSG_ERROR) {
    log::warn("clamav", {{"msg", text}});
    if (t_scan_error != nullptr && t_scan_error->empty()) {
      *t_scan_error = text;
    }
  } else if (severity == CL_MSG_WARN) {
    log::info("clamav", {{"msg", text}});
  } else {
    log::debug("clamav", {{"msg", text}});
  }
}

void initOnce() {
  static std::once_flag once;
  static cl_error_t result = CL_SUCCESS;
  std::call_once(once, [] {
    cl_set_clcb_msg(&logClamMessage);
    result = cl_init(CL_INIT_DEFAULT);
  });
  if (result != CL_SUCCESS) {
    throw std::runtime_error(std::string("cannot initialise libclamav: ") + cl_strerror(result));
  }
}

void check(cl_error_t rc, const std::string& what) {
  if (rc != CL_SUCCESS) {
    throw std::runtime_error(what + ": " + cl_strerror(rc));
  }
}

struct FmapClose {
  void operator()(cl_fmap_t* map) const { cl_fmap_close(map); }
};

// Gives back the pages of a mapped file's bytes when it goes out of scope.
class ReleaseAfter {
 public:
  explicit ReleaseAfter(const PagedBytes& data) : data_(data) {}
  ReleaseAfter(const ReleaseAfter&) = delete;
  ReleaseAfter& operator=(const ReleaseAfter&) = delete;
  ~ReleaseAfter() { data_.release(data_.data); }

 private:
  const PagedBytes& data_;
};

// The newest modification time of the regular files in `dir` (the epoch if there is none).
std::chrono::system_clock::time_point newestFile(const std::filesystem::path& dir) {
  std::chrono::system_clock::time_point newest{};
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::error_code fec;
    if (entry.is_regular_file(fec)) {
      newest = std::max(newest, std::chrono::time_point_cast<std::chrono::system_clock::duration>(
                                    std::chrono::file_clock::to_sys(entry.last_write_time(fec))));
    }
  }
  return newest;
}

// Whether any file of `dir` may carry phishing signatures (see phishingSignatures()).
bool mayHoldPhishingSignatures(const std::filesystem::path& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string ext = entry.path().extension().string();
    if (ext == ".pdb" || ext == ".wdb" || ext == ".gdb" || ext == ".cvd" || ext == ".cld" ||
        ext == ".cud") {
      return true;
    }
  }
  return false;
}

}  // namespace

void ClamEngine::EngineFree::operator()(cl_engine* engine) const {
  cl_engine_free(engine);
}

ClamEngine::ClamEngine(const std::filesystem::path& database, const ClamLimits& limits,
                       const std::filesystem::path& tmpdir, CleanCache cache) {
  initOnce();
  engine_.reset(cl_engine_new());
  if (!engine_) {
    throw std::runtime_error("cannot create a ClamAV engine (out of memory?)");
  }
  cl_engine* e = engine_.get();
  check(cl_engine_set_num(e, CL_ENGINE_MAX_SCANSIZE, static_cast<long long>(limits.max_scan_size)),
        "max_scan_size");
  check(cl_engine_set_num(e, CL_ENGINE_MAX_FILESIZE, static_cast<long long>(limits.max_file_size)),
        "max_file_size");
  check(cl_engine_set_num(e, CL_ENGINE_MAX_RECURSION, limits.max_recursion), "max_recursion");
  check(cl_engine_set_num(e, CL_ENGINE_MAX_FILES, limits.max_files), "max_files");
  check(cl_engine_set_num(e, CL_ENGINE_MAX_SCANTIME, limits.max_scan_time.count()),
        "max_scan_time");
  check(cl_engine_set_str(e, CL_ENGINE_TMPDIR, tmpdir.c_str()), "temporary directory");
  if (cache == CleanCache::kOff) {
    check(cl_engine_set_num(e, CL_ENGINE_DISABLE_CACHE, 1), "clean cache");
  }
  unsigned signatures = 0;
  const cl_error_t loaded = cl_load(database.c_str(), e, &signatures, CL_DB_STDOPT);
  std::error_code ec;
  if (loaded == CL_EOPEN && std::filesystem::is_directory(database, ec)) {
    // What libclamav answers for a directory without any signature file in it.
    throw std::runtime_error("no signatures in ClamAV database " + database.string() +
                             " (no .cvd/.cld/.ndb/.hdb/... files; refusing to scan without "
                             "signatures)");
  }
  check(loaded, "cannot load ClamAV database " + database.string());
  if (signatures == 0) {
    throw std::runtime_error("no signatures in ClamAV database " + database.string() +
                             " (refusing to scan without signatures)");
  }
  check(cl_engine_compile(e), "cannot compile ClamAV database " + database.string());
  signatures_ = signatures;
  phishing_ = mayHoldPhishingSignatures(database);
  int err = 0;
  const long long db_time = cl_engine_get_num(e, CL_ENGINE_DB_TIME, &err);
  database_time_ = err == CL_SUCCESS && db_time > 0
                       ? std::chrono::system_clock::time_point(std::chrono::seconds(db_time))
                       : newestFile(database);
}

ClamEngine::~ClamEngine() = default;

ClamEngine::ScanResult ClamEngine::scan(const PagedBytes& data, MailParser mail,
                                        const char* name) const {
  // All bytes are scanned in place through a memory map. For bytes in a file (a spilled message,
  // a decoded attachment) that is our read-only mapping of it: libclamav reads the page cache the
  // file already occupies and copies nothing. Scanning the descriptor instead would have libclamav
  // pread() the file into anonymous memory of its own, a second copy (all of a PDF: its parser
  // wants the whole file at once). cl_fmap_open_memory refuses an empty buffer; a zero-length
  // buffer has nothing to scan.
  const char* bytes = data.data.empty() ? "\n" : data.data.data();
  const std::size_t length = data.data.empty() ? 1 : data.data.size();
  const ReleaseAfter release(data);  // once the scan is over, however it ended
  const std::unique_ptr<cl_fmap_t, FmapClose> map(cl_fmap_open_memory(bytes, length));
  if (!map) {
    throw std::runtime_error("ClamAV cannot map the message (out of memory?)");
  }
  cl_scan_options options{};
  options.general = CL_SCAN_GENERAL_HEURISTICS;
  options.parse = mail == MailParser::kOn ? ~0U : ~0U & ~CL_SCAN_PARSE_MAIL;
  options.heuristic = CL_SCAN_HEURISTIC_EXCEEDS_MAX | CL_SCAN_HEURISTIC_ENCRYPTED_ARCHIVE |
                      CL_SCAN_HEURISTIC_ENCRYPTED_DOC;
  const char* virus = nullptr;
  unsigned long scanned = 0;
  std::string error;
  cl_error_t rc = CL_CLEAN;
  {
    const CollectScanError collect(error);
    rc = cl_scanmap_callback(map.get(), name, &virus, &scanned, engine_.get(), &options, nullptr);
  }
  if (rc == CL_VIRUS) {
    return {true, virus != nullptr ? virus : "unnamed"};
  }
  if (rc == CL_CLEAN) {
    // libclamav answers CL_CLEAN for bytes it never looked at when it cannot make its per-scan
    // directory or a temporary file for an extracted part (a full or missing scratch folder); it
    // says so only at error severity. A scan that reported an error has not shown them clean.
    if (!error.empty()) {
      throw std::runtime_error("ClamAV could not finish the scan: " + error);
    }
    return {};
  }
  throw std::runtime_error(std::string("ClamAV scan failed: ") + cl_strerror(rc));
}

}  // namespace relayguard::filters
