// antivirus_stage: ClamAV scanning and signature reloads (see antivirus_stage.hpp).
#include "filters/antivirus/antivirus_stage.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <asio/post.hpp>
#include <stdlib.h>

#include "core/message/transfer_decoder.hpp"
#include "core/util/log_event.hpp"
#include "core/util/strings.hpp"

namespace relayguard::filters {
namespace {

using Clock = std::chrono::steady_clock;

// What identifies one version of a database directory: every file's name, size and mtime.
struct DbFile {
  std::string name;
  std::uintmax_t size = 0;
  std::filesystem::file_time_type mtime;
  bool operator==(const DbFile& o) const {
    return std::tie(name, size, mtime) == std::tie(o.name, o.size, o.mtime);
  }
};
using DbSnapshot = std::vector<DbFile>;

DbSnapshot snapshot(const std::filesystem::path& dir) {
  DbSnapshot out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::error_code fec;
    DbFile f;
    f.name = entry.path().filename().string();
    f.size = entry.is_regular_file(fec) ? entry.file_size(fec) : 0;
    f.mtime = entry.last_write_time(fec);
    out.push_back(std::move(f));
  }
  std::sort(out.begin(), out.end(),
            [](const DbFile& a, const DbFile& b) { return a.name < b.name; });
  return out;
}

// Where the scratch folder goes without temp_dir: the service's runtime directory when systemd
// gives one (RuntimeDirectory=, a tmpfs under /run), else $TMPDIR, else /tmp.
std::filesystem::path defaultTempDir() {
  if (const char* runtime = std::getenv("RUNTIME_DIRECTORY"); runtime != nullptr) {
    // systemd separates several RuntimeDirectory= entries with colons; the first one serves.
    const std::string_view all(runtime);
    const std::filesystem::path first(all.substr(0, all.find(':')));
    std::error_code ec;
    if (first.is_absolute() && std::filesystem::is_directory(first, ec)) {
      return first;
    }
  }
  return std::filesystem::temp_directory_path();
}

std::filesystem::path makeTempDir(const std::filesystem::path& parent) {
  std::string pattern =
      ((parent.empty() ? defaultTempDir() : parent) / "relayguard-clamav-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("cannot create a temporary directory " + pattern);
  }
  return pattern;
}

// Problems of the MIME view that change nothing libclamav would see: names, and our own archive
// listing (libclamav opens archives itself either way).
bool harmlessForScanning(std::string_view problem) {
  return problem == mime_problem::kConflictingFilenames || problem.starts_with("archive-");
}

bool isTextPart(const MimePart& part) {
  return part.content_type.starts_with("text/") || part.detected_type.starts_with("text/");
}

// A uuencode "begin <octal mode> " line anywhere in `text` (libclamav's mail parser decodes
// those in any text body; the MIME view only for Content-Transfer-Encoding: x-uuencode).
bool hasUuencodeBegin(std::string_view text) {
  constexpr std::string_view kBegin = "begin ";
  for (std::size_t at = text.find(kBegin); at != std::string_view::npos;
       at = text.find(kBegin, at + 1)) {
    const bool line_start = at == 0 || text[at - 1] == '\n';
    const std::size_t mode = at + kBegin.size();
    if (line_start && mode < text.size() && text[mode] >= '0' && text[mode] <= '7') {
      return true;
    }
  }
  return false;
}

bool isTnef(const MimePart& part) {
  constexpr std::string_view kMagic = "\x78\x9f\x3e\x22";  // 0x223e9f78, little-endian
  if (part.content_type == "application/ms-tnef" ||
      part.content_type == "application/vnd.ms-tnef" || part.bytes().data.starts_with(kMagic)) {
    return true;
  }
  return std::any_of(part.filenames.begin(), part.filenames.end(),
                     [](const std::string& name) { return iequals(name, "winmail.dat"); });
}

}  // namespace

std::string_view wholeMessageReason(const MimeView& view, std::uint64_t raw_size,
                                    bool phishing_signatures, std::uint64_t max_scan_size) {
  for (const std::string& problem : view.problems()) {
    if (!harmlessForScanning(problem)) {
      return problem;
    }
  }
  std::uint64_t bytes = raw_size;
  for (const MimePart& part : view.parts()) {
    bytes += part.size();
    if (isTnef(part)) {
      return "tnef";
    }
    if (part.is_html && phishing_signatures) {
      return "html-with-phishing-signatures";
    }
    if (!isTextPart(part)) {
      continue;
    }
    if (part.content_type.starts_with("text/") && !isUtf8Charset(part.charset)) {
      return "converted-charset";
    }
    if (hasUuencodeBegin(part.body)) {
      return "uuencode-in-text";
    }
    if (part.body.find("(This file must be converted with BinHex") != std::string::npos) {
      return "binhex-in-text";
    }
  }
  return bytes > max_scan_size ? "scan-size" : "";
}

// Everything a scan or a background reload needs; shared so that a reload still running when
// the stage is destroyed (after a SIGHUP) finishes safely.
struct AntivirusStage::State : std::enable_shared_from_this<State> {
  explicit State(Options o) : options_(std::move(o)), tmpdir_(makeTempDir(options_.temp_dir)) {
    try {
      seen_ = snapshot(options_.database);
      engine_.store(
          std::make_shared<const ClamEngine>(options_.database, options_.limits, tmpdir_));
    } catch (...) {
      removeTempDir();
      throw;
    }
    next_check_.store((Clock::now() + options_.reload_interval).time_since_epoch().count());
  }
  ~State() { removeTempDir(); }

  void removeTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(tmpdir_, ec);
  }

  // Called at the start of every scan: at most once per interval, and never twice at a time,
  // posts a check of the database directory to the pool. The scan itself does not wait.
  void maybeReload(asio::thread_pool& pool) {
    const auto now = Clock::now();
    if (now.time_since_epoch().count() < next_check_.load()) {
      return;
    }
    if (reloading_.exchange(true)) {
      return;
    }
    next_check_.store((now + options_.reload_interval).time_since_epoch().count());
    asio::post(pool, [self = shared_from_this()] {
      self->reloadIfChanged();
      self->next_check_.store(
          (Clock::now() + self->options_.reload_interval).time_since_epoch().count());
      self->reloading_.store(false);
    });
  }

  void reloadIfChanged() {
    try {
      DbSnapshot now = snapshot(options_.database);
      if (now == seen_) {
        return;
      }
      seen_ = std::move(now);  // a broken version is reported once, not at every interval
      auto fresh = std::make_shared<const ClamEngine>(options_.database, options_.limits, tmpdir_);
      const unsigned count = fresh->signatures();
      engine_.store(std::move(fresh));
      log::info("antivirus_reloaded",
                {{"signatures", count}, {"database", options_.database.string()}});
    } catch (const std::exception& e) {
      log::error("antivirus_reload_failed", {{"database", options_.database.string()},
                                             {"error", e.what()},
                                             {"detail", "the signatures in force stay"}});
    }
  }

  const Options options_;
  const std::filesystem::path tmpdir_;
  std::atomic<std::shared_ptr<const ClamEngine>> engine_;
  std::atomic<Clock::rep> next_check_{0};
  std::atomic<bool> reloading_{false};
  DbSnapshot seen_;  // only touched by the constructor and by the one reload in progress
};

AntivirusStage::AntivirusStage(Options options)
    : state_(std::make_shared<State>(std::move(options))) {}

AntivirusStage::~AntivirusStage() = default;

unsigned AntivirusStage::signatures() const {
  return state_->engine_.load()->signatures();
}

std::chrono::system_clock::time_point AntivirusStage::databaseTime() const {
  return state_->engine_.load()->databaseTime();
}

std::unique_ptr<Stage> AntivirusStage::create(StageConfig& config) {
  TomlReader& t = config.table;
  Options options;
  std::filesystem::path db = t.requiredString("database");
  options.database = db.is_absolute() ? db : config.rules_dir / db;
  const auto on_virus = t.choice("on_virus", {"reject", "quarantine"});
  options.on_virus = on_virus && *on_virus == "reject" ? Action::kReject : Action::kQuarantine;
  const auto scan = t.choice("scan", {"parts", "message"});
  options.scan = scan && *scan == "message" ? Options::Scan::kMessage : Options::Scan::kParts;

  constexpr std::uint64_t kMaxSize = 1ULL << 30;
  const auto sizeKey = [&t](std::string_view key, std::uint64_t fallback) {
    const std::uint64_t v = t.size(key).value_or(fallback);
    if (v == 0 || v > kMaxSize) {
      t.fail(key, "must be between 1 and 1G");
    }
    return v;
  };
  options.limits.max_scan_size = sizeKey("max_scan_size", options.limits.max_scan_size);
  options.limits.max_file_size = sizeKey("max_file_size", options.limits.max_file_size);
  if (options.limits.max_scan_size > options.limits.max_file_size) {
    // With a larger scan size, ClamAV can skip a big file inside a small archive unnoticed.
    t.fail("max_scan_size", "must not be larger than max_file_size");
  }
  options.limits.max_recursion = static_cast<std::uint32_t>(
      t.integer("max_recursion", 1, 64).value_or(options.limits.max_recursion));
  options.limits.max_files = static_cast<std::uint32_t>(
      t.integer("max_files", 1, 1000000).value_or(options.limits.max_files));
  if (const auto d = t.duration("max_scan_time")) {
    if (d->count() <= 0 || *d > std::chrono::hours(1)) {
      t.fail("max_scan_time", "must be between 1s and 1h");
    }
    options.limits.max_scan_time = *d;
  }
  if (const auto d = t.duration("reload_interval")) {
    if (d->count() <= 0) {
      t.fail("reload_interval", "must be at least 1s");
    }
    options.reload_interval = *d;
  }

  std::error_code ec;
  if (const auto dir = t.string("temp_dir")) {
    options.temp_dir = *dir;
    if (!options.temp_dir.is_absolute()) {
      t.fail("temp_dir", "must be an absolute path");
    }
    if (!std::filesystem::is_directory(options.temp_dir, ec)) {
      t.fail("temp_dir", "'" + *dir + "' is not a directory");
    }
  }
  if (!std::filesystem::is_directory(options.database, ec)) {
    t.fail("database", "'" + options.database.string() + "' is not a directory");
  }
  try {
    return std::make_unique<AntivirusStage>(std::move(options));
  } catch (const std::runtime_error& e) {
    t.fail("database", e.what());
  }
}

ClamEngine::ScanResult AntivirusStage::scan(const ClamEngine& engine,
                                            const MessageView& message) const {
  const Options& options = state_->options_;
  if (options.scan == Options::Scan::kMessage) {
    return engine.scan(message.paged());
  }
  const MimeView& view = message.mime();
  if (!wholeMessageReason(view, message.raw().size(), engine.phishingSignatures(),
                          options.limits.max_scan_size)
           .empty()) {
    return engine.scan(message.paged());
  }
  // libclamav applies max_scan_time to each scan; the parts of one message share it, as they
  // would inside one whole-message scan, under the name libclamav gives that heuristic.
  const auto started = Clock::now();
  ClamEngine::ScanResult result =
      engine.scan(message.paged(), ClamEngine::MailParser::kOff, "message");
  for (const MimePart& part : view.parts()) {
    if (result.infected) {
      break;
    }
    if (Clock::now() - started > options.limits.max_scan_time) {
      return {true, "Heuristics.Limits.Exceeded.MaxScanTime"};
    }
    if (const PagedBytes body = part.bytes(); !body.data.empty()) {
      result = engine.scan(body, ClamEngine::MailParser::kOn, "part");
    }
  }
  return result;
}

StageResult AntivirusStage::evaluate(const MessageView& message, StageContext& ctx) const {
  state_->maybeReload(ctx.blocking);
  // A copy of the pointer: a swap during the scan leaves this engine alive until it ends.
  const std::shared_ptr<const ClamEngine> engine = state_->engine_.load();
  const ClamEngine::ScanResult result = scan(*engine, message);
  StageResult out;
  if (result.infected) {
    out.action = state_->options_.on_virus;
    out.findings.push_back(Finding{"antivirus", "", result.virus, state_->options_.on_virus});
  }
  return out;
}

}  // namespace relayguard::filters
