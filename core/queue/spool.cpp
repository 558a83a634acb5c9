// spool: durable commit, update and recovery of queued messages (see spool.hpp).
#include "core/queue/spool.hpp"

#include <algorithm>
#include <cerrno>
#include <fstream>

#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/util/durable_file.hpp"

namespace relayguard::queue {
namespace {

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

// Far more than the record of a message with the most recipients a session accepts (and the
// padding place() adds, under kSizeStep).
constexpr std::size_t kMaxRecordLine = 16 * 1024 * 1024;

// The CRC-32 (zlib's) of prefix followed by message.
std::uint64_t crcOf(std::string_view prefix, const PagedBytes& message) {
  uLong crc = crc32_z(0L, Z_NULL, 0);
  crc = crc32_z(crc, reinterpret_cast<const Bytef*>(prefix.data()), prefix.size());
  message.forEachWindow(message.data, [&crc](std::string_view window) {
    crc = crc32_z(crc, reinterpret_cast<const Bytef*>(window.data()), window.size());
    return true;
  });
  return crc;
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
      corrupt_(root_ / "corrupt"),
      free_dir_(root_ / "free") {
  makePrivateDirectory(root_);
  makePrivateDirectory(tmp_);
  makePrivateDirectory(queue_);
  makePrivateDirectory(corrupt_);
  makePrivateDirectory(free_dir_);
}

std::filesystem::path Spool::messagePath(const QueueId& id) const {
  return queue_ / (id.str() + ".msg");
}

std::filesystem::path Spool::recordPath(const QueueId& id) const {
  return queue_ / (id.str() + ".env");
}

void Spool::commit(const QueuedMessage& record, const PagedBytes& message,
                   std::string_view prefix) {
  const std::string head = record.toJson().dump() + "\n";  // dump() never writes a newline
  commitFiles(tmp_, queue_, {{record.id.str() + ".msg", {head, prefix, message}}}, &queue_sync_);
}

std::optional<Spool::Taken> Spool::takeFree(std::uint64_t size) {
  std::lock_guard lock(free_mutex_);
  if (free_.empty()) {
    return std::nullopt;
  }
  // The most recently freed first (its pages are likeliest still cached).
  const auto fitting = std::find_if(free_.rbegin(), free_.rend(), [size](const FreeFile& f) {
    return f.size >= size && f.size - size < kSizeStep;
  });
  const bool fits = fitting != free_.rend();
  const auto pick = fits ? std::next(fitting).base() : free_.end() - 1;
  Taken out{std::move(*pick), fits};
  free_.erase(pick);
  return out;
}

void Spool::place(const QueuedMessage& record, const PagedBytes& message, std::string_view prefix) {
  nlohmann::json line = record.toJson();
  const std::uint64_t bytes = prefix.size() + message.data.size();
  const bool recyclable = bytes <= kMapAbove;  // what retire() keeps in free/
  if (recyclable) {
    line["crc"] = crcOf(prefix, message);
  }
  std::string head = line.dump();  // dump() never writes a newline
  const std::uint64_t size = head.size() + 1 + bytes;
  const std::optional<Taken> reuse = recyclable ? takeFree(size) : std::nullopt;
  const bool fits = reuse && reuse->fits;
  // Padded to the free file it fills, or up to the next step for the next message to fill.
  const std::uint64_t padded =
      fits ? reuse->file.size : (size + kSizeStep - 1) / kSizeStep * kSizeStep;
  head.append(padded - size, ' ');
  head += '\n';
  if (reuse) {
    const PagedBytes pieces[] = {PagedBytes(head), PagedBytes(prefix), message};
    try {
      placeOverwriting(free_dir_ / reuse->file.name, messagePath(record.id), pieces,
                       fits ? Flush::kWithDirectory : Flush::kNow);
      return;
    } catch (const IoError&) {
      // That file is gone (it was not one to write over, or the disk failed): a new file
      // reports the disk's trouble if there is any.
    }
  }
  placeFiles(tmp_, queue_, {{record.id.str() + ".msg", {head, prefix, message}}});
}

void Spool::syncQueue() const {
  fsyncDirectory(queue_);
}

void Spool::update(const QueuedMessage& record) {
  writeFileDurably(tmp_ / (record.id.str() + ".env.new"), recordPath(record.id),
                   record.toJson().dump());
}

bool Spool::remove(const QueueId& id) {
  const bool had = ::unlink(messagePath(id).c_str()) == 0;
  ::unlink(recordPath(id).c_str());
  return had;
}

void Spool::retire(const QueuedMessage& record) {
  const std::filesystem::path spare = free_dir_ / record.id.str();
  if (record.size > kMapAbove || ::rename(messagePath(record.id).c_str(), spare.c_str()) != 0) {
    remove(record.id);
    return;
  }
  ::unlink(recordPath(record.id).c_str());
  struct stat st {};
  bool kept = false;
  if (::lstat(spare.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    std::lock_guard lock(free_mutex_);
    if (free_.size() < kMaxFree) {
      free_.push_back({record.id.str(), static_cast<std::uint64_t>(st.st_size)});
      kept = true;
    }
  }
  if (!kept) {
    ::unlink(spare.c_str());
  }
}

bool Spool::exists(const QueueId& id) const {
  std::error_code ec;
  return std::filesystem::exists(messagePath(id), ec);
}

std::string Spool::readMessage(const QueueId& id) const {
  return readFile(messagePath(id), ReadFrom::kAfterFirstLine);
}

void Spool::moveToCorrupt(const std::string& name) const {
  std::error_code ec;
  std::filesystem::rename(queue_ / (name + ".msg"), corrupt_ / (name + ".msg"), ec);
  std::filesystem::rename(queue_ / (name + ".env"), corrupt_ / (name + ".env"), ec);
}

Spool::StoredMessage Spool::loadMessage(const QueueId& id) const {
  const std::filesystem::path path = messagePath(id);
  StoredMessage out;
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMapAbove) {
    out.file_ = MappedFile::open(path);
  } else {
    out.text_ = readFile(path);
  }
  const std::string_view all = out.data();  // offset_ is still 0
  const std::size_t newline = all.find('\n');
  if (newline == std::string_view::npos) {
    throw std::runtime_error(path.string() + ": no record line");
  }
  out.offset_ = newline + 1;
  const auto line = nlohmann::json::parse(all.substr(0, newline), nullptr, false);
  const auto crc = line.is_object() ? line.find("crc") : line.end();
  if (crc != line.end() && crc->is_number_unsigned() &&
      crc->get<std::uint64_t>() != crcOf({}, out.paged())) {
    moveToCorrupt(id.str());
    throw CorruptMessage(path.string() +
                         ": the bytes do not match the record's checksum; moved to " +
                         (corrupt_ / path.filename()).string());
  }
  return out;
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
      text = readFirstLine(from, kMaxRecordLine);  // the record as accepted
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
  {
    // Only regular files with one name are worth reusing (a crash in the middle of a rename
    // can leave a second name of a queued message here); the other names go.
    std::lock_guard lock(free_mutex_);
    free_.clear();
    for (const auto& entry : std::filesystem::directory_iterator(free_dir_, ec)) {
      struct stat st {};
      const bool usable = ::lstat(entry.path().c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
                          st.st_nlink == 1 && free_.size() < kMaxFree;
      if (usable) {
        free_.push_back({entry.path().filename().string(), static_cast<std::uint64_t>(st.st_size)});
      } else {
        std::filesystem::remove(entry.path(), ec);
      }
    }
  }
  const auto messages = idsWithSuffix(queue_, ".msg");
  const auto records = idsWithSuffix(queue_, ".env");
  for (const auto& name : records) {
    if (!std::binary_search(messages.begin(), messages.end(), name)) {
      std::filesystem::remove(queue_ / (name + ".env"), ec);  // an interrupted removal
    }
  }
  std::vector<QueuedMessage> out;
  for (const auto& name : messages) {
    const auto id = QueueId::parse(name);
    const bool has_record = std::binary_search(records.begin(), records.end(), name);
    bool ok = false;
    if (id) {
      try {
        auto m = read(*id);
        if (m && m->id != *id) {
          // A free file's old record under a new name: the crash came before the sync that
          // would have made its new bytes durable, so the message was never acknowledged.
          throw std::runtime_error("queue file of another message");
        }
        if (m) {
          // Only a message with an ID.env can be in the two-file layout.
          if (has_record && legacyLayout(messagePath(*id))) {
            commit(*m, readFile(messagePath(*id)));  // rewritten in place, with its record line
          }
          out.push_back(std::move(*m));
          ok = true;
        }
      } catch (const std::exception&) {
        ok = false;
      }
    }
    if (!ok) {
      moveToCorrupt(name);
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
