// quarantine_store: durable storage of quarantined messages (see quarantine_store.hpp).
#include "core/quarantine/quarantine_store.hpp"

#include <algorithm>
#include <cerrno>

#include "core/queue/queue_id.hpp"
#include "core/util/durable_file.hpp"

namespace relayguard {

QuarantineStore::QuarantineStore(const std::filesystem::path& spool_dir)
    : tmp_(spool_dir / "tmp"), dir_(spool_dir / "quarantine") {
  makePrivateDirectory(spool_dir);
  makePrivateDirectory(tmp_);
  makePrivateDirectory(dir_);
}

void QuarantineStore::store(const std::string& id, const PagedBytes& message,
                            const nlohmann::json& record, std::string_view prefix) {
  const std::string json = record.dump();
  commitFiles(tmp_, dir_, {{id + ".msg", {prefix, message}}, {id + ".json", {json}}});
}

std::vector<nlohmann::json> QuarantineStore::list(std::vector<std::string>* problems) const {
  std::vector<nlohmann::json> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const auto& path = entry.path();
    if (path.extension() != ".json" || !queue::QueueId::parse(path.stem().string())) {
      continue;
    }
    try {
      out.push_back(nlohmann::json::parse(readFile(path)));
    } catch (const std::exception& e) {
      if (problems != nullptr && std::filesystem::exists(path)) {  // not released meanwhile
        problems->push_back(path.string() + ": " + e.what());
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    return std::make_pair(a.value("time", ""), a.value("id", "")) <
           std::make_pair(b.value("time", ""), b.value("id", ""));
  });
  return out;
}

std::optional<nlohmann::json> QuarantineStore::read(const std::string& id) const {
  if (!queue::QueueId::parse(id)) {
    return std::nullopt;  // never a path outside the quarantine folder
  }
  try {
    return nlohmann::json::parse(readFile(dir_ / (id + ".json")));
  } catch (const IoError& e) {
    if (e.error() == ENOENT) {
      return std::nullopt;
    }
    throw;
  }
}

std::optional<std::string> QuarantineStore::readMessage(const std::string& id) const {
  if (!queue::QueueId::parse(id)) {
    return std::nullopt;
  }
  try {
    return readFile(dir_ / (id + ".msg"));
  } catch (const IoError& e) {
    if (e.error() == ENOENT) {
      return std::nullopt;
    }
    throw;
  }
}

bool QuarantineStore::remove(const std::string& id) {
  std::error_code ec;
  const bool had = std::filesystem::remove(dir_ / (id + ".json"), ec);
  std::filesystem::remove(dir_ / (id + ".msg"), ec);
  if (had) {
    fsyncDirectory(dir_);  // an audited delete or release must not come back after a crash
  }
  return had;
}

}  // namespace relayguard
