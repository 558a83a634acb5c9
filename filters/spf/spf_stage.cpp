// spf_stage: SPF self-check of the egress addresses, with a result cache (see spf_stage.hpp).
#include "filters/spf/spf_stage.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>

#include "core/net/ip_address.hpp"
#include "core/util/blocking.hpp"
#include "core/util/strings.hpp"
#include "dns/spf_evaluator.hpp"

namespace relayguard::filters {
namespace {

using Clock = std::chrono::steady_clock;

Action actionFor(std::string_view choice) {
  if (choice == "reject") {
    return Action::kReject;
  }
  if (choice == "quarantine") {
    return Action::kQuarantine;
  }
  if (choice == "tag") {
    return Action::kTag;
  }
  return Action::kAccept;
}

}  // namespace

// Outcomes by "domain\nip" (or "domain\nip\nsender" for sender-dependent policies).
struct SpfStage::Cache {
  struct Entry {
    dns::SpfOutcome outcome;
    Clock::time_point expires;
  };

  std::optional<dns::SpfOutcome> find(const std::string& key, const std::string& sender) {
    std::lock_guard lock(mutex);
    const auto now = Clock::now();
    auto it = entries.find(key);
    if (it != entries.end() && it->second.expires > now && it->second.outcome.sender_dependent) {
      it = entries.find(key + "\n" + sender);
    }
    if (it == entries.end() || it->second.expires <= now) {
      return std::nullopt;
    }
    return it->second.outcome;
  }

  void store(const std::string& key, const std::string& sender, const dns::SpfOutcome& outcome,
             std::chrono::seconds max_ttl, std::size_t max_entries) {
    const auto ttl = std::min<std::chrono::seconds>(std::chrono::seconds(outcome.ttl), max_ttl);
    if (outcome.result == dns::SpfResult::kTempError || ttl.count() <= 0) {
      return;
    }
    std::lock_guard lock(mutex);
    const auto now = Clock::now();
    if (entries.size() + 2 > max_entries) {
      makeRoom(now, max_entries);
    }
    entries[key] = Entry{outcome, now + ttl};
    if (outcome.sender_dependent) {
      entries[key + "\n" + sender] = Entry{outcome, now + ttl};
    }
  }

  // Drops what has expired and, if that is not enough, the tenth of the entries closest to
  // expiry (one O(n) pass buys room for many inserts; emptying the whole cache would send every
  // sender back to DNS at once).
  void makeRoom(Clock::time_point now, std::size_t max_entries) {
    std::erase_if(entries, [now](const auto& e) { return e.second.expires <= now; });
    if (entries.size() + 2 <= max_entries) {
      return;
    }
    std::vector<Clock::time_point> expiries;
    expiries.reserve(entries.size());
    for (const auto& [key, entry] : entries) {
      expiries.push_back(entry.expires);
    }
    const std::size_t drop =
        std::min(entries.size(), std::max<std::size_t>(2, entries.size() / 10));
    std::nth_element(expiries.begin(), expiries.begin() + static_cast<std::ptrdiff_t>(drop - 1),
                     expiries.end());
    const Clock::time_point cutoff = expiries[drop - 1];
    std::erase_if(entries, [cutoff](const auto& e) { return e.second.expires <= cutoff; });
  }

  std::mutex mutex;
  std::map<std::string, Entry> entries;
  std::atomic<std::size_t> evaluations{0};
};

SpfStage::SpfStage(Options options)
    : options_(std::move(options)), cache_(std::make_shared<Cache>()) {}

SpfStage::~SpfStage() = default;

std::size_t SpfStage::evaluations() const {
  return cache_->evaluations.load();
}

std::unique_ptr<Stage> SpfStage::create(StageConfig& config) {
  TomlReader& t = config.table;
  Options options;
  const auto ips = t.stringArray("egress_ips");
  if (!ips || ips->empty()) {
    t.fail("egress_ips", "needs at least one address: the addresses receivers see our mail from");
  }
  for (std::size_t i = 0; i < ips->size(); ++i) {
    if (!net::IpAddress::parse((*ips)[i])) {
      throw ConfigError(t.elementPosition("egress_ips", i),
                        "egress_ips: '" + (*ips)[i] + "' is not an IP address");
    }
  }
  options.egress_ips = *ips;
  const std::vector<std::string> choices{"tag", "quarantine", "reject", "accept"};
  if (const auto v = t.choice("on_fail", choices)) {
    options.on_fail = actionFor(*v);
  }
  if (const auto v = t.choice("on_softfail", choices)) {
    options.on_softfail = actionFor(*v);
  }
  if (const auto v = t.choice("on_permerror", choices)) {
    options.on_permerror = actionFor(*v);
  }
  return std::make_unique<SpfStage>(std::move(options));
}

asio::awaitable<StageResult> SpfStage::run(const MessageView& message, StageContext& ctx) const {
  if (ctx.resolver == nullptr) {
    throw std::runtime_error("spf: no DNS resolver available");
  }
  const Envelope& envelope = message.envelope();
  const bool null_sender = envelope.mail_from.isNull();
  const std::string sender = null_sender ? std::string() : envelope.mail_from.str();
  const std::string domain =
      toLower(null_sender ? std::string(ctx.hostname) : envelope.mail_from.domain());
  std::vector<std::optional<dns::SpfOutcome>> outcomes(options_.egress_ips.size());
  bool misses = false;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    outcomes[i] = cache_->find(domain + "\n" + options_.egress_ips[i], sender);
    misses = misses || !outcomes[i];
  }
  if (misses) {
    dns::Resolver& resolver = *ctx.resolver;
    const std::string helo(ctx.hostname);
    auto evaluate = [this, &outcomes, &resolver, &helo, &sender, &domain] {
      for (std::size_t i = 0; i < outcomes.size(); ++i) {
        if (outcomes[i]) {
          continue;
        }
        dns::SpfQuery query{options_.egress_ips[i], sender, helo};
        dns::SpfOptions spf;
        spf.receiver = helo.empty() ? spf.receiver : helo;
        outcomes[i] = dns::evaluateSpf(resolver, query, spf);
        ++cache_->evaluations;
        cache_->store(domain + "\n" + options_.egress_ips[i], sender, *outcomes[i],
                      options_.max_cache_ttl, options_.max_cache_entries);
      }
    };
    co_await runBlocking(ctx.blocking, evaluate);
  }

  StageResult result;
  std::set<std::string> tags;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const dns::SpfOutcome& o = *outcomes[i];
    const std::string what = std::string(dns::toString(o.result));
    const std::string detail = "domain=" + o.domain + " ip=" + options_.egress_ips[i] + " " + what +
                               (o.comment.empty() ? "" : ": " + o.comment);
    if (o.result == dns::SpfResult::kTempError) {
      throw std::runtime_error("spf temperror: " + detail);
    }
    Action action = Action::kAccept;
    switch (o.result) {
      case dns::SpfResult::kFail:
        action = options_.on_fail;
        break;
      case dns::SpfResult::kSoftFail:
        action = options_.on_softfail;
        break;
      case dns::SpfResult::kPermError:
        action = options_.on_permerror;
        break;
      default:
        break;
    }
    result.findings.push_back(Finding{"spf", "spf-" + what, detail, action});
    result.action = strongest(result.action, action);
    if (action == Action::kTag && tags.insert(what).second) {
      result.add_headers.push_back(HeaderField{"X-Relayguard-Tag", "spf-" + what});
    }
  }
  co_return result;
}

}  // namespace relayguard::filters
