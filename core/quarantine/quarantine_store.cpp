// quarantine_store: durable storage of quarantined messages (see quarantine_store.hpp).
#include "core/quarantine/quarantine_store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <sys/stat.h>

#include "core/util/durable_file.hpp"

namespace relayguard {
namespace {

void makeDir(const std::filesystem::path& p) {
  if (::mkdir(p.c_str(), 0700) != 0 && errno != EEXIST) {
    throw IoError("cannot create " + p.string() + ": " + std::strerror(errno), errno);
  }
}

}  // namespace

QuarantineStore::QuarantineStore(const std::filesystem::path& spool_dir)
    : tmp_(spool_dir / "tmp"), dir_(spool_dir / "quarantine") {
  makeDir(spool_dir);
  makeDir(tmp_);
  makeDir(dir_);
}

void QuarantineStore::store(const std::string& id, std::string_view message,
                            const nlohmann::json& record) {
  const std::string json = record.dump();
  commitFiles(tmp_, dir_, {{id + ".msg", message}, {id + ".json", json}});
}

bool QuarantineStore::remove(const std::string& id) {
  std::error_code ec;
  const bool had = std::filesystem::remove(dir_ / (id + ".json"), ec);
  std::filesystem::remove(dir_ / (id + ".msg"), ec);
  return had;
}

}  // namespace relayguard
