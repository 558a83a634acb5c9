// mx_resolver: MX selection and address lookup for MX delivery (see mx_resolver.hpp).
#include "dns/mx_resolver.hpp"

#include <algorithm>
#include <charconv>

namespace relayguard::dns {
namespace {

MxResult failure(MxResult::Kind kind, MxResult::Reason reason, std::string error) {
  MxResult r;
  r.kind = kind;
  r.reason = reason;
  r.error = std::move(error);
  return r;
}

std::mt19937& threadRng() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return rng;
}

}  // namespace

std::optional<MxRecord> parseMx(const std::string& record) {
  const auto space = record.find(' ');
  if (space == std::string::npos || space == 0 || space + 1 >= record.size()) {
    return std::nullopt;
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(record.data(), record.data() + space, value);
  if (ec != std::errc() || end != record.data() + space || value > 65535) {
    return std::nullopt;
  }
  return MxRecord{static_cast<std::uint16_t>(value), record.substr(space + 1)};
}

void orderMx(std::vector<MxRecord>& records, std::mt19937& rng) {
  std::stable_sort(records.begin(), records.end(), [](const MxRecord& a, const MxRecord& b) {
    return a.preference < b.preference;
  });
  auto first = records.begin();
  while (first != records.end()) {
    auto last = std::find_if(first, records.end(), [&first](const MxRecord& r) {
      return r.preference != first->preference;
    });
    std::shuffle(first, last, rng);
    first = last;
  }
}

asio::awaitable<MxResult> resolveMx(Resolver& resolver, const std::string& domain,
                                    MxOptions options) {
  const Answer mx = co_await resolver.query(domain, RrType::kMx);
  std::vector<MxRecord> records;
  bool implicit = false;
  switch (mx.status) {
    case Status::kTempFail:
      co_return failure(MxResult::Kind::kTemporary, MxResult::Reason::kDnsFailure, mx.error);
    case Status::kNxDomain:
      co_return failure(MxResult::Kind::kPermanent, MxResult::Reason::kNoSuchDomain,
                        "domain " + domain + " does not exist (NXDOMAIN)");
    case Status::kNoData:
      implicit = true;  // RFC 5321 5.1: the domain itself, as if "0 domain"
      records.push_back(MxRecord{0, domain});
      break;
    case Status::kOk: {
      bool null_mx = false;
      for (const auto& text : mx.records) {
        auto rec = parseMx(text);
        if (!rec) {
          continue;
        }
        if (rec->host == ".") {
          null_mx = true;  // RFC 7505: "." never names a host
          continue;
        }
        records.push_back(std::move(*rec));
      }
      if (records.empty()) {
        if (null_mx) {
          co_return failure(MxResult::Kind::kPermanent, MxResult::Reason::kNullMx,
                            "domain " + domain + " does not accept mail (null MX, RFC 7505)");
        }
        co_return failure(MxResult::Kind::kTemporary, MxResult::Reason::kDnsFailure,
                          "MX records of " + domain + " could not be parsed");
      }
      orderMx(records, threadRng());
      break;
    }
  }

  MxResult result;
  result.kind = MxResult::Kind::kHosts;
  std::string temp_errors;
  const std::size_t limit = std::min(records.size(), std::max<std::size_t>(1, options.max_hosts));
  for (std::size_t i = 0; i < limit; ++i) {
    MxHost host{records[i].host, {}};
    bool temporary = false;
    for (RrType type : {RrType::kA, RrType::kAaaa}) {
      const Answer a = co_await resolver.query(host.name, type);
      if (a.status == Status::kOk) {
        host.addresses.insert(host.addresses.end(), a.records.begin(), a.records.end());
      } else if (a.status == Status::kTempFail) {
        temporary = true;
        temp_errors += (temp_errors.empty() ? "" : "; ") + a.error;
      }
    }
    if (host.addresses.size() > options.max_addresses_per_host) {
      host.addresses.resize(std::max<std::size_t>(1, options.max_addresses_per_host));
    }
    if (!host.addresses.empty()) {
      result.hosts.push_back(std::move(host));
    } else if (!temporary && implicit) {
      co_return failure(MxResult::Kind::kPermanent, MxResult::Reason::kNoAddress,
                        "domain " + domain + " has no MX and no address record");
    }
  }
  if (result.hosts.empty()) {
    // MX hosts that do not resolve (yet) may be fixed by their owner: retry until max_age.
    co_return failure(
        MxResult::Kind::kTemporary,
        temp_errors.empty() ? MxResult::Reason::kNoAddress : MxResult::Reason::kDnsFailure,
        temp_errors.empty() ? "no MX host of " + domain + " has an address" : temp_errors);
  }
  co_return result;
}

}  // namespace relayguard::dns
