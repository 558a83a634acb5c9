// doctor: the DNS checks of `relayguard doctor` (see doctor.hpp).
#include "core/doctor/doctor.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "core/net/ip_address.hpp"
#include "core/util/strings.hpp"
#include "dns/spf_evaluator.hpp"
#include "signing/dkim_keygen.hpp"

namespace relayguard::doctor {
namespace {

std::string tagValue(const std::vector<std::pair<std::string, std::string>>& tags,
                     std::string_view name, std::string fallback = {}) {
  for (const auto& [k, v] : tags) {
    if (k == name) {
      return v;
    }
  }
  return fallback;
}

bool hasTag(const std::vector<std::pair<std::string, std::string>>& tags, std::string_view name) {
  return std::any_of(tags.begin(), tags.end(), [&](const auto& t) { return t.first == name; });
}

std::string dnsFailure(const dns::Answer& a) {
  return "could not check (DNS temporary failure" + (a.error.empty() ? "" : ": " + a.error) + ")";
}

const std::string kDnsFix = "fix: make sure the DNS servers answer ([dns] servers), then run again";

// "v=spf1 ..." (case-insensitive, RFC 7208 4.5): the version term alone or followed by a space.
bool isSpfRecord(const std::string& txt) {
  return istartsWith(txt, "v=spf1") && (txt.size() == 6 || txt[6] == ' ');
}

std::string mechanism(const std::string& ip) {
  const auto parsed = net::IpAddress::parse(ip);
  return (parsed && !parsed->isV4() ? "ip6:" : "ip4:") + ip;
}

std::string quoted(const std::string& record) {
  return "\"" + record + "\"";
}

// ---- SPF -------------------------------------------------------------------------------------

struct SpfSummary {
  bool all_pass = false;  // a record exists and every egress IP passes
};

SpfSummary checkSpf(dns::Resolver& resolver, const Input& input, const std::string& domain,
                    std::vector<Check>& out) {
  SpfSummary summary;
  const dns::Answer txt = resolver.queryBlocking(domain, dns::RrType::kTxt);
  if (txt.status == dns::Status::kTempFail) {
    out.push_back({"spf", domain, Status::kDnsError, dnsFailure(txt), {kDnsFix}});
    return summary;
  }
  std::vector<std::string> records;
  for (const auto& r : txt.records) {
    if (isSpfRecord(r)) {
      records.push_back(r);
    }
  }
  std::string all_ips;
  for (const auto& ip : input.egress_ips) {
    all_ips += mechanism(ip) + " ";
  }
  if (records.empty()) {
    out.push_back({"spf",
                   domain,
                   Status::kFail,
                   "no SPF record (TXT \"v=spf1 ...\") at " + domain,
                   {"publish: " + domain + ". IN TXT " + quoted("v=spf1 " + all_ips + "-all")}});
    return summary;
  }
  if (records.size() > 1) {
    out.push_back(
        {"spf",
         domain,
         Status::kFail,
         std::to_string(records.size()) + " SPF records at " + domain +
             ": receivers treat that as permerror",
         {"fix: merge them into one TXT record \"v=spf1 ... -all\" and delete the others"}});
    return summary;
  }
  const std::string& record = records.front();
  summary.all_pass = !input.egress_ips.empty();
  for (const auto& ip : input.egress_ips) {
    const dns::SpfOutcome o =
        dns::evaluateSpf(resolver, dns::SpfQuery{ip, "postmaster@" + domain, input.hostname}, {});
    const std::string result(dns::toString(o.result));
    const std::string subject = domain + " " + ip;
    if (o.result == dns::SpfResult::kPass) {
      out.push_back({"spf", subject, Status::kOk, "pass (" + record + ")", {}});
      continue;
    }
    summary.all_pass = false;
    if (o.result == dns::SpfResult::kTempError) {
      out.push_back({"spf",
                     subject,
                     Status::kDnsError,
                     "could not check (DNS temporary failure: " + o.comment + ")",
                     {kDnsFix}});
      continue;
    }
    std::string detail = result + (o.comment.empty() ? "" : ": " + o.comment);
    std::vector<std::string> fixes;
    if (o.result == dns::SpfResult::kPermError) {
      fixes.push_back("fix: the record at " + domain + " is broken (" + record +
                      "); correct it so that it stays within 10 DNS lookups");
    }
    const std::string rest(trim(std::string_view(record).substr(6)));
    fixes.push_back("publish: " + domain + ". IN TXT " +
                    quoted("v=spf1 " + mechanism(ip) + (rest.empty() ? "" : " " + rest)) + "   (" +
                    mechanism(ip) + " added to the existing record)");
    out.push_back({"spf", subject, Status::kFail, detail, fixes});
  }
  return summary;
}

// ---- DKIM ------------------------------------------------------------------------------------

std::string keyType(signing::DkimAlgorithm a) {
  return a == signing::DkimAlgorithm::kEd25519Sha256 ? "ed25519" : "rsa";
}

Check checkDkim(dns::Resolver& resolver, const signing::DkimKey& key) {
  const std::string name = key.selector() + "._domainkey." + key.domain();
  const std::string expected = signing::dnsRecordFor(key.pkey(), key.algorithm());
  const std::string publish =
      "publish: " + signing::zoneFileRecord(key.selector(), key.domain(), expected);
  const std::string algorithm(signing::toString(key.algorithm()));
  const dns::Answer txt = resolver.queryBlocking(name, dns::RrType::kTxt);
  if (txt.status == dns::Status::kTempFail) {
    return {"dkim", name, Status::kDnsError, dnsFailure(txt), {kDnsFix}};
  }
  if (txt.records.empty()) {
    return {"dkim",
            name,
            Status::kFail,
            "no DKIM record at " + name + " (" + algorithm + " key configured)",
            {publish}};
  }
  if (txt.records.size() > 1) {
    return {"dkim",
            name,
            Status::kFail,
            std::to_string(txt.records.size()) + " TXT records at " + name +
                ": receivers may pick any of them",
            {publish + "   (and delete the others)"}};
  }
  const auto tags = parseTagList(txt.records.front());
  const std::string want_p = tagValue(parseTagList(expected), "p");
  if (hasTag(tags, "v") && tagValue(tags, "v") != "DKIM1") {
    return {"dkim",
            name,
            Status::kFail,
            "not a DKIM1 record (v=" + tagValue(tags, "v") + ")",
            {publish}};
  }
  if (!hasTag(tags, "p")) {
    return {"dkim", name, Status::kFail, "the record has no p= (public key) tag", {publish}};
  }
  const std::string p = tagValue(tags, "p");
  if (p.empty()) {
    return {"dkim", name, Status::kFail, "the key is revoked (empty p=)", {publish}};
  }
  const std::string k = toLower(tagValue(tags, "k", "rsa"));
  if (k != keyType(key.algorithm())) {
    return {"dkim",
            name,
            Status::kFail,
            "published k=" + k + " but the configured key is " + algorithm,
            {publish}};
  }
  if (p != want_p) {
    return {"dkim",
            name,
            Status::kFail,
            "the published p= is another key than the configured private key",
            {publish}};
  }
  if (hasTag(tags, "h")) {
    const std::string h = toLower(tagValue(tags, "h"));
    std::set<std::string> hashes;
    std::stringstream in(h);
    for (std::string part; std::getline(in, part, ':');) {
      hashes.insert(std::string(trim(part)));
    }
    if (hashes.count("sha256") == 0) {
      return {"dkim", name, Status::kFail, "h=" + h + " does not allow sha256", {publish}};
    }
  }
  const std::string t = toLower(tagValue(tags, "t"));
  std::stringstream flags(t);
  for (std::string flag; std::getline(flags, flag, ':');) {
    if (trim(flag) == "y") {
      return {"dkim",
              name,
              Status::kWarn,
              "key matches, but t=y (testing): receivers may ignore failed signatures",
              {publish + "   (without t=y once signatures verify)"}};
    }
  }
  return {"dkim", name, Status::kOk, "published key matches (" + algorithm + ")", {}};
}

// ---- DMARC -----------------------------------------------------------------------------------

std::size_t labels(const std::string& domain) {
  return static_cast<std::size_t>(std::count(domain.begin(), domain.end(), '.')) + 1;
}

Check checkDmarc(dns::Resolver& resolver, const Domain& domain, bool spf_pass,
                 const std::map<const signing::DkimKey*, Status>& dkim) {
  const std::string& name = domain.name;
  const std::string publish = "publish: _dmarc." + name + ". IN TXT " +
                              quoted("v=DMARC1; p=none; rua=mailto:postmaster@" + name) +
                              "   (then p=quarantine, later p=reject, once the reports show "
                              "all your mail passing)";
  // The domain's record, else its parents' down to two labels (the organizational domain
  // without the public suffix list).
  std::string at = name;
  std::vector<std::string> records;
  std::string found_at;
  while (true) {
    const dns::Answer txt = resolver.queryBlocking("_dmarc." + at, dns::RrType::kTxt);
    if (txt.status == dns::Status::kTempFail) {
      return {"dmarc", name, Status::kDnsError, dnsFailure(txt), {kDnsFix}};
    }
    for (const auto& r : txt.records) {
      const std::string t(trim(r));
      if (t.rfind("v=DMARC1", 0) == 0 && (t.size() == 8 || t[8] == ';' || t[8] == ' ')) {
        records.push_back(t);
      }
    }
    if (!records.empty() || labels(at) <= 2) {
      found_at = at;
      break;
    }
    at = at.substr(at.find('.') + 1);
  }
  if (records.empty()) {
    return {"dmarc",
            name,
            Status::kFail,
            "no DMARC record (TXT \"v=DMARC1; ...\") at _dmarc." + name,
            {publish}};
  }
  if (records.size() > 1) {
    return {"dmarc",
            name,
            Status::kFail,
            std::to_string(records.size()) + " DMARC records at _dmarc." + found_at +
                ": receivers then apply none",
            {"fix: keep one of them"}};
  }
  const auto tags = parseTagList(records.front());
  const bool strict_dkim = toLower(tagValue(tags, "adkim", "r")) == "s";
  std::string dkim_why = "no DKIM key signs " + name;
  bool dkim_pass = false;
  for (const signing::DkimKey* key : domain.signing_keys) {
    const bool aligned = key->domain() == name || (!strict_dkim && labels(key->domain()) >= 2);
    const auto it = dkim.find(key);
    const bool published =
        it != dkim.end() && (it->second == Status::kOk || it->second == Status::kWarn);
    const std::string id = key->selector() + "._domainkey." + key->domain();
    if (!aligned) {
      dkim_why = id + " is not aligned (adkim=s)";
    } else if (!published) {
      dkim_why = id + " is not published correctly";
    } else {
      dkim_pass = true;
      dkim_why = "DKIM aligned (" + id + ")";
      break;
    }
  }
  const std::string spf_why = spf_pass ? "SPF aligned and passing" : "SPF does not pass";
  const std::string where = found_at == name ? "" : " (from _dmarc." + found_at + ")";
  const std::string policy = toLower(tagValue(tags, "p", "none"));
  if (!dkim_pass && !spf_pass) {
    return {"dmarc",
            name,
            Status::kFail,
            records.front() + where + ": would fail: " + dkim_why + ", " + spf_why,
            {"fix: the SPF and DKIM failures above (either one, aligned, makes DMARC pass)"}};
  }
  const std::string why = dkim_pass && spf_pass ? dkim_why + ", " + spf_why
                          : dkim_pass           ? dkim_why
                                                : spf_why;
  if (policy == "none") {
    return {"dmarc",
            name,
            Status::kWarn,
            records.front() + where + ": would pass (" + why + "); p=none only monitors",
            {"fix: once the reports show all your mail passing, raise to p=quarantine, then "
             "p=reject"}};
  }
  return {"dmarc", name, Status::kOk, records.front() + where + ": would pass (" + why + ")", {}};
}

// ---- PTR -------------------------------------------------------------------------------------

Check checkPtr(dns::Resolver& resolver, const std::string& hostname, const std::string& ip) {
  const auto parsed = net::IpAddress::parse(ip);
  const std::string rname = reverseName(ip);
  if (!parsed || rname.empty()) {
    return {"ptr", ip, Status::kFail, "not an IP address", {}};
  }
  const std::string host = domainKey(hostname);
  const std::string ask = "fix: ask the owner of " + ip +
                          " (your hosting provider or ISP) to set its reverse DNS (PTR) to " + host;
  const std::string forward =
      "publish: " + host + ". IN " + (parsed->isV4() ? "A " : "AAAA ") + parsed->toString();
  const dns::Answer ptr = resolver.queryBlocking(rname, dns::RrType::kPtr);
  if (ptr.status == dns::Status::kTempFail) {
    return {"ptr", ip, Status::kDnsError, dnsFailure(ptr), {kDnsFix}};
  }
  if (ptr.records.empty()) {
    return {"ptr", ip, Status::kFail, "no PTR record at " + rname, {ask, forward}};
  }
  std::string names;
  bool named = false;
  for (const auto& n : ptr.records) {
    names += (names.empty() ? "" : ", ") + domainKey(n);
    named = named || domainKey(n) == host;
  }
  if (!named) {
    return {"ptr",
            ip,
            Status::kFail,
            "PTR is " + names + ", not hostname " + host,
            {ask + " (or set hostname = \"" + domainKey(ptr.records.front()) +
             "\" if that name is yours)"}};
  }
  const dns::Answer fwd =
      resolver.queryBlocking(host, parsed->isV4() ? dns::RrType::kA : dns::RrType::kAaaa);
  if (fwd.status == dns::Status::kTempFail) {
    return {"ptr", ip, Status::kDnsError, dnsFailure(fwd), {kDnsFix}};
  }
  std::string addresses;
  for (const auto& a : fwd.records) {
    const auto addr = net::IpAddress::parse(a);
    if (addr && *addr == *parsed) {
      return {"ptr", ip, Status::kOk, host + " (forward-confirmed)", {}};
    }
    addresses += (addresses.empty() ? "" : ", ") + a;
  }
  return {"ptr",
          ip,
          Status::kFail,
          "PTR is " + host + " but " + host + " does not resolve back to " + ip +
              (addresses.empty() ? " (no address)" : " (it resolves to " + addresses + ")"),
          {forward}};
}

}  // namespace

std::string_view label(Status s) {
  switch (s) {
    case Status::kOk:
      return "ok";
    case Status::kWarn:
      return "WARN";
    case Status::kFail:
    case Status::kDnsError:
      return "FAIL";
  }
  return "FAIL";
}

std::string_view toString(Status s) {
  switch (s) {
    case Status::kOk:
      return "ok";
    case Status::kWarn:
      return "warn";
    case Status::kFail:
      return "fail";
    case Status::kDnsError:
      return "dns-error";
  }
  return "fail";
}

bool Report::ok() const {
  return std::none_of(checks.begin(), checks.end(), [](const Check& c) {
    return c.status == Status::kFail || c.status == Status::kDnsError;
  });
}

std::vector<std::pair<std::string, std::string>> parseTagList(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const auto end = std::min(text.find(';', pos), text.size());
    const std::string_view part = text.substr(pos, end - pos);
    pos = end + 1;
    const auto eq = part.find('=');
    if (eq == std::string_view::npos) {
      continue;
    }
    const std::string name(trim(part.substr(0, eq)));
    std::string value(trim(part.substr(eq + 1)));
    if (name == "p") {  // base64 may be folded with whitespace
      value.erase(std::remove_if(value.begin(), value.end(),
                                 [](unsigned char c) { return std::isspace(c) != 0; }),
                  value.end());
    }
    if (!name.empty() && !hasTag(out, name)) {
      out.emplace_back(name, value);
    }
  }
  return out;
}

std::string reverseName(std::string_view ip) {
  const auto parsed = net::IpAddress::parse(ip);
  if (!parsed) {
    return {};
  }
  const auto& b = parsed->bytes();
  std::string out;
  if (parsed->isV4()) {
    for (int i = 3; i >= 0; --i) {
      out += std::to_string(b[static_cast<std::size_t>(i)]) + ".";
    }
    return out + "in-addr.arpa";
  }
  constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    const unsigned v = b[static_cast<std::size_t>(i)];
    out += kHex[v & 0xF];
    out += '.';
    out += kHex[v >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}

Report runDoctor(dns::Resolver& resolver, const Input& input) {
  Report report;
  auto& out = report.checks;
  if (input.domains.empty()) {
    out.push_back({"config",
                   "domains",
                   Status::kFail,
                   "no domain to check: the dkim stage has no keys and no --domain was given",
                   {"fix: pass --domain D for each domain you send mail from"}});
  }
  if (input.egress_ips.empty()) {
    out.push_back({"config",
                   "egress IPs",
                   Status::kFail,
                   "no egress IP to check: no spf stage with egress_ips and no --egress-ip given",
                   {"fix: pass --egress-ip IP for each address your mail leaves from"}});
  }
  std::map<const signing::DkimKey*, Status> dkim;
  const auto check_key = [&](const signing::DkimKey* key) {
    if (dkim.count(key) == 0) {
      Check c = checkDkim(resolver, *key);
      dkim[key] = c.status;
      out.push_back(std::move(c));
    }
  };
  for (const Domain& domain : input.domains) {
    const SpfSummary spf = checkSpf(resolver, input, domain.name, out);
    for (const signing::DkimKey* key : input.keys) {
      if (key->domain() == domain.name) {
        check_key(key);
      }
    }
    for (const signing::DkimKey* key : domain.signing_keys) {
      check_key(key);  // a parent domain's key signs this domain's mail
    }
    out.push_back(checkDmarc(resolver, domain, spf.all_pass, dkim));
  }
  for (const auto& ip : input.egress_ips) {
    out.push_back(checkPtr(resolver, input.hostname, ip));
  }
  return report;
}

std::string formatText(const Report& report) {
  std::ostringstream out;
  std::map<Status, int> counts;
  for (const Check& c : report.checks) {
    ++counts[c.status];
    std::string tag(label(c.status));
    tag.resize(6, ' ');
    std::string kind = c.kind;
    kind.resize(7, ' ');
    out << tag << kind << c.subject << ": " << c.detail << "\n";
    if (c.status != Status::kOk) {
      for (const auto& f : c.fixes) {
        out << "        " << f << "\n";
      }
    }
  }
  out << (report.ok() ? "ok" : "FAIL") << ": " << counts[Status::kOk] << " ok, "
      << counts[Status::kWarn] << " warning(s), " << counts[Status::kFail] << " failed, "
      << counts[Status::kDnsError] << " not checked (DNS failure)\n";
  return out.str();
}

nlohmann::json toJson(const Report& report) {
  nlohmann::json checks = nlohmann::json::array();
  for (const Check& c : report.checks) {
    checks.push_back({{"kind", c.kind},
                      {"subject", c.subject},
                      {"status", toString(c.status)},
                      {"detail", c.detail},
                      {"fixes", c.fixes}});
  }
  return {{"ok", report.ok()}, {"checks", checks}};
}

}  // namespace relayguard::doctor
