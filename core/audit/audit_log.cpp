// audit_log: hash-chained, fsynced JSON Lines with keyed anchors (see audit_log.hpp).
#include "core/audit/audit_log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util/durable_file.hpp"
#include "core/util/time_format.hpp"

namespace relayguard {

AuditOptions AuditOptions::fromConfig(const Config& config) {
  AuditOptions o;
  o.dir = config.spool_dir / "audit";
  o.max_file_bytes = config.audit.max_file_size;
  o.anchor_key = config.audit.loadKey(config.spool_dir);
  o.anchor_interval = config.audit.anchor_interval;
  return o;
}
namespace {

const std::string kZeroHash(64, '0');

std::string hex(const unsigned char* data, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 15];
  }
  return out;
}

std::vector<std::filesystem::path> auditFiles(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const auto name = e.path().filename().string();
    if (name.starts_with("audit-") && name.ends_with(".jsonl")) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The last complete line of a file's content (without its newline), or nullopt.
std::optional<std::string_view> lastLine(std::string_view content) {
  if (content.empty()) {
    return std::nullopt;
  }
  const auto end = content.back() == '\n' ? content.size() - 1 : content.size();
  const auto start = content.rfind('\n', end == 0 ? 0 : end - 1);
  const auto from = start == std::string_view::npos ? 0 : start + 1;
  return content.substr(from, end - from);
}

int utcDay(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm.tm_year * 400 + tm.tm_yday;
}

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path) {
  throw IoError::fromErrno(what, path, errno);
}

}  // namespace

std::string AuditLog::sha256Hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_sha256(), nullptr);
  return hex(md, n);
}

std::string AuditLog::hmacHex(const std::string& key, std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), md, &n);
  return hex(md, n);
}

AuditLog::AuditLog(AuditOptions options) : options_(std::move(options)) {
  makePrivateDirectory(options_.dir);
  head_ = kZeroHash;
  const auto files = auditFiles(options_.dir);
  // Find the chain head, newest file first; cut a torn last line (never acknowledged).
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    std::string content = readFile(*it);
    const auto cut = content.rfind('\n');
    const std::size_t keep = cut == std::string::npos ? 0 : cut + 1;
    if (keep != content.size()) {
      if (::truncate(it->c_str(), static_cast<off_t>(keep)) != 0) {
        fail("cannot truncate torn line of", *it);
      }
      content.resize(keep);
    }
    if (auto line = lastLine(content)) {
      head_ = sha256Hex(*line);
      break;
    }
  }
  last_anchor_ = std::chrono::steady_clock::now();
  openNewFile();
}

AuditLog::~AuditLog() {
  try {
    std::lock_guard lock(mutex_);
    if (options_.anchor_key && unanchored_) {
      anchorLocked();
    }
    if (fd_ >= 0) {
      ::fdatasync(fd_);
      ::close(fd_);
    }
  } catch (const std::exception&) {
    // Closing cannot report; the chain stays valid up to the last complete line.
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
}

void AuditLog::openNewFile() {
  if (fd_ >= 0) {
    if (::fdatasync(fd_) != 0) {
      fail("cannot fsync", file_);
    }
    lines_synced_ = lines_written_;
    ::close(fd_);
    fd_ = -1;
  }
  const auto files = auditFiles(options_.dir);
  std::uint64_t seq = 1;
  if (!files.empty()) {
    const auto name = files.back().filename().string();  // audit-<seq>-<time>.jsonl
    seq = std::strtoull(name.c_str() + 6, nullptr, 10) + 1;
  }
  const auto now = std::chrono::system_clock::now();
  std::string stamp = rfc3339(now);  // 2026-11-24T00:15:00.123Z
  stamp.erase(std::remove_if(stamp.begin(), stamp.end(),
                             [](char c) { return c == '-' || c == ':' || c == '.'; }),
              stamp.end());
  char name[96];
  std::snprintf(name, sizeof name, "audit-%09llu-%s.jsonl", static_cast<unsigned long long>(seq),
                stamp.c_str());
  file_ = options_.dir / name;
  fd_ = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    fail("cannot create", file_);
  }
  fsyncDirectory(options_.dir);
  file_bytes_ = 0;
  file_day_ = utcDay(std::chrono::system_clock::to_time_t(now));
}

void AuditLog::maybeRotateLocked() {
  const int today = utcDay(std::time(nullptr));
  if (file_bytes_ > 0 && (file_bytes_ >= options_.max_file_bytes || today != file_day_)) {
    if (options_.anchor_key && unanchored_) {
      anchorLocked();  // every file ends authenticated
    }
    openNewFile();
  }
}

void AuditLog::writeLocked(nlohmann::json record) {
  record["prev"] = head_;
  std::string line = record.dump();
  const std::string hash = sha256Hex(line);
  line += '\n';
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      const int err = errno;
      // Never leave a torn line in the chain: cut back to the last complete line.
      if (::ftruncate(fd_, static_cast<off_t>(file_bytes_)) != 0) {
        (void)err;
      }
      errno = err;
      fail("cannot write", file_);
    }
    done += static_cast<std::size_t>(n);
  }
  head_ = hash;
  file_bytes_ += line.size();
  ++lines_written_;
}

void AuditLog::anchorLocked() {
  const std::string time = rfc3339(std::chrono::system_clock::now());
  writeLocked({{"time", time},
               {"event", "anchor"},
               {"head", head_},
               {"hmac", hmacHex(*options_.anchor_key, head_ + "|" + time)}});
  unanchored_ = false;
  last_anchor_ = std::chrono::steady_clock::now();
}

void AuditLog::anchor() {
  if (!options_.anchor_key) {
    return;
  }
  {
    std::lock_guard lock(mutex_);
    maybeRotateLocked();
    anchorLocked();
  }
  try {
    syncWritten();
  } catch (const IoError&) {
    // The next append reports a failing disk; an anchor is written on a timer with nobody to tell.
  }
}

void AuditLog::append(nlohmann::json record) {
  write(std::move(record));
  syncWritten();
}

void AuditLog::write(nlohmann::json record) {
  std::lock_guard lock(mutex_);
  maybeRotateLocked();
  if (options_.anchor_key && unanchored_ &&
      std::chrono::steady_clock::now() - last_anchor_ >= options_.anchor_interval) {
    anchorLocked();
  }
  writeLocked(std::move(record));
  unanchored_ = true;
}

void AuditLog::syncWritten() {
  {
    std::lock_guard lock(mutex_);
    if (lines_synced_ == lines_written_) {
      return;  // a sync that began after the last line was written has completed
    }
  }
  // Group commit: one fdatasync covers every line written before it started. It syncs the file
  // being written now; a rotation fsynced the file it left, so older lines are already on disk.
  sync_.afterChange([this] {
    int fd = -1;
    std::uint64_t covers = 0;
    {
      std::lock_guard lock(mutex_);
      fd = ::dup(fd_);  // the file may be rotated away while we sync: keep it open
      if (fd < 0) {
        fail("cannot dup descriptor of", file_);
      }
      covers = lines_written_;
    }
    const int rc = ::fdatasync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) {
      throw IoError("cannot fsync the audit log: " + std::string(std::strerror(err)), err);
    }
    std::lock_guard lock(mutex_);
    lines_synced_ = std::max(lines_synced_, covers);
    ++syncs_;
  });
}

std::uint64_t AuditLog::syncs() const {
  std::lock_guard lock(mutex_);
  return syncs_;
}

AuditVerifyResult verifyAuditLog(const std::filesystem::path& dir,
                                 const std::optional<std::string>& key) {
  AuditVerifyResult r;
  std::string expected = kZeroHash;
  auto bad = [&r](const std::filesystem::path& f, std::size_t line, const std::string& what) {
    r.ok = false;
    r.problem = f.string() + ":" + std::to_string(line) + ": " + what;
    return r;
  };
  for (const auto& file : auditFiles(dir)) {
    const std::string content = readFile(file);
    std::size_t pos = 0;
    std::size_t number = 0;
    while (pos < content.size()) {
      ++number;
      const auto eol = content.find('\n', pos);
      if (eol == std::string::npos) {
        return bad(file, number, "incomplete last line (no newline)");
      }
      const std::string_view line(content.data() + pos, eol - pos);
      pos = eol + 1;
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        return bad(file, number, "not a JSON object");
      }
      if (!j.contains("prev") || !j["prev"].is_string() || j["prev"] != expected) {
        return bad(file, number,
                   "prev does not match the SHA-256 of the previous line (line changed, "
                   "removed or reordered)");
      }
      if (key && j.value("event", "") == "anchor") {
        const std::string head = j.value("head", "");
        const std::string time = j.value("time", "");
        if (head != expected || j.value("hmac", "") != AuditLog::hmacHex(*key, head + "|" + time)) {
          return bad(file, number, "anchor does not verify with this key");
        }
        ++r.anchors;
        r.unanchored_tail = 0;
        r.last_anchor_time = time;
      } else {
        ++r.unanchored_tail;
      }
      expected = AuditLog::sha256Hex(line);
      ++r.lines;
    }
  }
  if (key && r.lines > 0 && r.anchors == 0) {
    r.ok = false;
    r.problem = dir.string() + ": no anchor verifies with this key";
  }
  return r;
}

}  // namespace relayguard
