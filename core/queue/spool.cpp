// spool: durable commit, update and recovery of queued messages (see spool.hpp).
#include "core/queue/spool.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util/durable_file.hpp"

namespace relayguard::queue {
namespace {

void makeDir(const std::filesystem::path& p) {
  if (::mkdir(p.c_str(), 0700) != 0 && errno != EEXIST) {
    throw IoError("cannot create " + p.string() + ": " + std::strerror(errno), errno);
  }
}

std::vector<std::string> idsWithSuffix(const std::filesystem::path& dir, std::string_view suffix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > suffix.size() && name.ends_with(suffix)) {
      out.push_back(name.substr(0, name.size() - suffix.size()));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Enough for the messages removed and committed at the same moment by a busy relay.

// Far more than the record of a message with the most recipients a session accepts.
constexpr std::size_t kMaxRecordLine = 16 * 1024 * 1024;

// The first line of a file, without its newline: a message file's record. Read in pieces, so a
// large message behind it is never read; IoError if the file cannot be read, runtime_error if it
// has no complete first line.
std::string firstLine(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw IoError("cannot open " + path.string() + ": " + std::strerror(err), err);
  }
  std::string line;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      if (n < 0) {
        throw IoError("cannot read " + path.string() + ": " + std::strerror(err), err);
      }
      throw std::runtime_error("queue file " + path.string() + " has no record line");
    }
    const std::string_view got(buf, static_cast<std::size_t>(n));
    const auto eol = got.find('\n');
    line.append(got.substr(0, eol));
    if (eol != std::string_view::npos) {
      ::close(fd);
      return line;
    }
    if (line.size() > kMaxRecordLine) {
      ::close(fd);
      throw std::runtime_error("queue file " + path.string() + " has no record line");
    }
  }
}

// Whether a message file predates the one-file layout: then ID.msg held only the bytes to send
// (always starting with a header field) and ID.env the record.
bool legacyLayout(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char c = 0;
  return in.get(c) && c != '{';
}

}  // namespace

Spool::Spool(std::filesystem::path root)
    : root_(std::move(root)),
      tmp_(root_ / "tmp"),
      queue_(root_ / "queue"),
      corrupt_(root_ / "corrupt") {
  makeDir(root_);
  makeDir(tmp_);
  makeDir(queue_);
  makeDir(corrupt_);
}

std::filesystem::path Spool::messagePath(const QueueId& id) const {
  return queue_ / (id.str() + ".msg");
}

std::filesystem::path Spool::recordPath(const QueueId& id) const {
  return queue_ / (id.str() + ".env");
}

void Spool::commit(const QueuedMessage& record, std::string_view message, std::string_view prefix) {
  const std::string head = record.toJson().dump() + "\n";  // dump() never writes a newline
  FileToCommit file{record.id.str() + ".msg", {head, prefix, message}};
  commitFiles(tmp_, queue_, {file}, &queue_sync_);
}

void Spool::update(const QueuedMessage& record) {
  writeFileDurably(tmp_ / (record.id.str() + ".env.new"), recordPath(record.id),
                   record.toJson().dump());
}

bool Spool::remove(const QueueId& id) {
  const auto path = messagePath(id);
  const bool had = ::unlink(path.c_str()) == 0;
  ::unlink(recordPath(id).c_str());
  return had;
}

bool Spool::exists(const QueueId& id) const {
  std::error_code ec;
  return std::filesystem::exists(messagePath(id), ec);
}

std::string Spool::readMessage(const QueueId& id) const {
  return readFile(messagePath(id), ReadFrom::kAfterFirstLine);
}

std::optional<QueuedMessage> Spool::read(const QueueId& id) const {
  std::string text;
  std::filesystem::path from = recordPath(id);
  try {
    try {
      text = readFile(from);  // the delivery state, once it has changed
    } catch (const IoError& e) {
      if (e.error() != ENOENT) {
        throw;
      }
      from = messagePath(id);
      text = firstLine(from);  // the record as accepted
    }
  } catch (const IoError& e) {
    if (e.error() == ENOENT) {
      return std::nullopt;
    }
    throw;
  }
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    throw std::runtime_error("queue record " + from.string() + " is not valid JSON");
  }
  return QueuedMessage::fromJson(j);
}

std::vector<QueuedMessage> Spool::recover() {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(tmp_, ec)) {
    std::filesystem::remove(entry.path(), ec);
  }
  const auto messages = idsWithSuffix(queue_, ".msg");
  for (const auto& name : idsWithSuffix(queue_, ".env")) {
    if (!std::binary_search(messages.begin(), messages.end(), name)) {
      std::filesystem::remove(queue_ / (name + ".env"), ec);  // an interrupted removal
    }
  }
  std::vector<QueuedMessage> out;
  for (const auto& name : messages) {
    const auto id = QueueId::parse(name);
    bool ok = false;
    if (id) {
      try {
        if (auto m = read(*id)) {
          const auto path = messagePath(*id);
          if (legacyLayout(path)) {
            commit(*m, readFile(path));  // rewritten in place, with its record line
          }
          out.push_back(std::move(*m));
          ok = true;
        }
      } catch (const std::exception&) {
        ok = false;
      }
    }
    if (!ok) {
      std::filesystem::rename(queue_ / (name + ".msg"), corrupt_ / (name + ".msg"), ec);
      if (std::filesystem::exists(queue_ / (name + ".env"), ec)) {
        std::filesystem::rename(queue_ / (name + ".env"), corrupt_ / (name + ".env"), ec);
      }
    }
  }
  return out;
}

std::vector<QueuedMessage> Spool::list(std::vector<std::string>* problems) const {
  std::vector<QueuedMessage> out;
  for (const auto& name : idsWithSuffix(queue_, ".msg")) {
    const auto id = QueueId::parse(name);
    if (!id) {
      continue;
    }
    try {
      if (auto m = read(*id)) {
        out.push_back(std::move(*m));
      }
    } catch (const std::exception& e) {
      if (problems != nullptr) {
        problems->push_back(e.what());
      }
    }
  }
  return out;
}

}  // namespace relayguard::queue
