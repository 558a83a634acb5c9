// zone_resolver: an in-memory dns::Resolver for unit tests (our own interface, not a library's):
// a map of names to records, with NXDOMAIN for unknown names, NODATA for known names without
// the asked type, CNAME following, names that time out (kTempFail), and a query log.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dns/resolver.hpp"

namespace relayguard::test {

class ZoneResolver : public dns::Resolver {
 public:
  static std::string key(std::string name) {
    for (char& c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    while (!name.empty() && name.back() == '.') {
      name.pop_back();
    }
    return name;
  }

  void add(const std::string& name, dns::RrType type, std::string record) {
    std::lock_guard lock(mutex_);
    names_[key(name)][type].push_back(std::move(record));
  }
  // The name exists but has no records of this type (e.g. "TXT: NONE" in the SPF suite).
  void touch(const std::string& name) {
    std::lock_guard lock(mutex_);
    names_[key(name)];
  }
  // Queries for types the name has no records of time out (the SPF suite's TIMEOUT).
  void timeout(const std::string& name) {
    std::lock_guard lock(mutex_);
    timeouts_.insert(key(name));
  }
  void setTtl(std::uint32_t ttl) { ttl_ = ttl; }
  std::size_t queries() const {
    std::lock_guard lock(mutex_);
    return log_.size();
  }

  dns::Answer queryBlocking(const std::string& name, dns::RrType type) override {
    std::lock_guard lock(mutex_);
    std::string k = key(name);
    log_.emplace_back(k, type);
    dns::Answer a;
    a.ttl = ttl_;
    for (int hops = 0; hops < 8; ++hops) {
      const auto it = names_.find(k);
      const bool has_type =
          it != names_.end() && it->second.count(type) != 0 && !it->second.at(type).empty();
      if (timeouts_.count(k) != 0 && !has_type) {
        a.status = dns::Status::kTempFail;
        a.error = "timeout (test zone)";
        return a;
      }
      if (it == names_.end()) {
        a.status = dns::Status::kNxDomain;
        return a;
      }
      const auto cname = it->second.find(dns::RrType::kCname);
      if (cname != it->second.end() && type != dns::RrType::kCname && !cname->second.empty()) {
        k = key(cname->second.front());
        continue;
      }
      const auto records = it->second.find(type);
      if (records == it->second.end() || records->second.empty()) {
        a.status = dns::Status::kNoData;
        return a;
      }
      a.status = dns::Status::kOk;
      a.records = records->second;
      return a;
    }
    a.status = dns::Status::kTempFail;
    a.error = "CNAME loop";
    return a;
  }

  asio::awaitable<dns::Answer> query(const std::string& name, dns::RrType type) override {
    co_return queryBlocking(name, type);
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::map<dns::RrType, std::vector<std::string>>> names_;
  std::set<std::string> timeouts_;
  std::vector<std::pair<std::string, dns::RrType>> log_;
  std::uint32_t ttl_ = 300;
};

}  // namespace relayguard::test
