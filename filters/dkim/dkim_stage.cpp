// dkim_stage: the DKIM signing stage (see dkim_stage.hpp).
#include "filters/dkim/dkim_stage.hpp"

#include <set>
#include <tuple>

#include "core/util/strings.hpp"
#include "signing/author_domain.hpp"

namespace relayguard::filters {
namespace {

Action actionNamed(const std::string& name) {
  if (name == "tag") {
    return Action::kTag;
  }
  if (name == "quarantine") {
    return Action::kQuarantine;
  }
  if (name == "reject") {
    return Action::kReject;
  }
  return Action::kAccept;
}

std::shared_ptr<const signing::DkimKey> readKey(TomlReader& k,
                                                const std::filesystem::path& rules_dir) {
  const std::string domain = domainKey(k.requiredString("domain"));
  if (!signing::isDnsName(domain)) {
    k.fail("domain", "'" + domain + "' is not a domain name");
  }
  const std::string selector = k.requiredString("selector");
  if (!signing::isDnsName(selector)) {
    k.fail("selector", "'" + selector + "' is not a valid selector (a DNS name)");
  }
  const auto algorithm_name = k.choice("algorithm", {"rsa-sha256", "ed25519-sha256"});
  const auto algorithm = signing::parseAlgorithm(algorithm_name.value_or("rsa-sha256")).value();
  const std::filesystem::path file = k.requiredString("private_key");
  const auto path = file.is_absolute() ? file : rules_dir / file;
  k.finish();
  try {
    return signing::DkimKey::load(domain, selector, algorithm, path);
  } catch (const signing::KeyError& e) {
    throw ConfigError(k.position(), e.what());
  }
}

}  // namespace

DkimStage::DkimStage(Options options) : options_(std::move(options)), signer_(options_.signer) {}

std::unique_ptr<Stage> DkimStage::create(StageConfig& config) {
  TomlReader& t = config.table;
  Options options;
  if (const auto c = t.string("canonicalization")) {
    const auto parsed = signing::parseCanonicalization(*c);
    if (!parsed) {
      t.fail("canonicalization",
             "'" + *c + "' is not header/body with each relaxed or simple (relaxed/relaxed)");
    }
    std::tie(options.signer.header, options.signer.body) = *parsed;
  }
  if (const auto d = t.duration("expire")) {
    if (d->count() < 3600) {
      t.fail("expire", "must be at least 1h (mail can wait in queues for hours)");
    }
    options.signer.expiry = *d;
  }
  if (const auto a = t.choice("on_bad_from", {"accept", "tag", "quarantine", "reject"})) {
    options.on_bad_from = actionNamed(*a);
  }
  const auto tables = t.tableArray("key");
  if (tables.empty()) {
    t.fail("key", "the dkim stage needs at least one [[stage.key]]");
  }
  std::set<std::pair<std::string, std::string>> seen;
  for (const toml::table* table : tables) {
    TomlReader k(*table, t.file());
    auto key = readKey(k, config.rules_dir);
    if (!seen.emplace(key->domain(), key->selector()).second) {
      throw ConfigError(k.position(), "a second key for selector '" + key->selector() +
                                          "' of domain '" + key->domain() + "'");
    }
    options.keys.push_back(std::move(key));
  }
  auto stage = std::make_unique<DkimStage>(std::move(options));
  // One signature per key now: whatever libopendkim would refuse is found at load time.
  const std::string probe = "From: <probe@example.test>\r\nSubject: key check\r\n\r\nkey check\r\n";
  for (std::size_t i = 0; i < stage->options_.keys.size(); ++i) {
    try {
      (void)stage->signer_.sign(probe, *stage->options_.keys[i]);
    } catch (const std::runtime_error& e) {
      TomlReader k(*tables[i], t.file());
      throw ConfigError(k.position(), e.what());
    }
  }
  return stage;
}

std::vector<const signing::DkimKey*> DkimStage::keysFor(std::string_view domain) const {
  std::vector<const signing::DkimKey*> out;
  std::size_t best = 0;
  for (const auto& key : options_.keys) {
    if (!signing::domainMatches(domain, key->domain())) {
      continue;
    }
    if (key->domain().size() > best) {
      best = key->domain().size();
      out.clear();
    }
    if (key->domain().size() == best) {
      out.push_back(key.get());
    }
  }
  return out;
}

StageResult DkimStage::sign(const PagedBytes& message) const {
  StageResult result;
  const signing::AuthorDomain author = signing::authorDomain(message.data);
  using Status = signing::AuthorDomain::Status;
  if (author.status != Status::kOk) {
    const bool none = author.status == Status::kNoFrom;
    Finding f{"dkim", none ? "dkim-no-from" : "dkim-multiple-from",
              none ? "not signed: no From: address"
              : author.status == Status::kSeveralFrom
                  ? "not signed: several From: fields"
                  : "not signed: the From: field names mailboxes in different domains",
              options_.on_bad_from};
    result.action = options_.on_bad_from;
    if (f.action == Action::kTag) {
      result.add_headers.push_back(HeaderField{"X-Relayguard-Tag", f.rule});
    }
    result.findings.push_back(std::move(f));
    return result;
  }
  for (const signing::DkimKey* key : keysFor(author.domain)) {
    result.add_headers.push_back(HeaderField{"DKIM-Signature", signer_.sign(message, *key)});
  }
  return result;
}

StageResult DkimStage::evaluate(const MessageView& message, StageContext& /*ctx*/) const {
  return sign(message.paged());
}

}  // namespace relayguard::filters
