// spf_evaluator: libspf2 evaluation and the DNS bridge layer (see spf_evaluator.hpp).
#include "dns/spf_evaluator.hpp"

// clang-format off
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>
extern "C" {
#include <spf2/spf.h>
#include <spf2/spf_dns.h>
}
// clang-format on

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <vector>

#include "core/util/strings.hpp"

namespace relayguard::dns {
namespace {

// libspf2 reports problems through global handlers; the error handler must not return (it
// aborts by default). Warnings and chatter are not ours to print.
void quietHandler(const char*, int, const char*) {}

void installHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    SPF_warning_handler = &quietHandler;
    SPF_info_handler = &quietHandler;
    SPF_debug_handler = &quietHandler;
  });
}

// Per-evaluation state of the bridge layer (the layer's hook).
struct Bridge {
  SPF_dns_server_t layer{};
  Resolver* resolver = nullptr;
  const SpfOptions* options = nullptr;
  unsigned terms = 0;
  unsigned voids = 0;
  bool first_txt_seen = false;
  std::vector<std::string> expansion;  // MX/PTR target names whose address lookups are free
  bool limit_exceeded = false;
  bool void_exceeded = false;
  bool temp_failure = false;
  std::string temp_error;
  std::uint32_t ttl = std::numeric_limits<std::uint32_t>::max();
  bool sender_dependent = false;
};

SPF_dns_rr_t* makeRr(SPF_dns_server_t* layer, const char* domain, ns_type type, int ttl,
                     SPF_dns_stat_t herrno) {
  SPF_dns_rr_t* rr = SPF_dns_rr_new_init(layer, domain, type, ttl, herrno);
  if (rr == nullptr) {
    SPF_error("out of memory in the DNS bridge");
  }
  return rr;
}

bool addRecord(SPF_dns_rr_t* rr, ns_type type, const std::string& text) {
  const int idx = rr->num_rr;
  if (type == ns_t_a || type == ns_t_aaaa) {
    if (SPF_dns_rr_buf_realloc(rr, idx, sizeof(SPF_dns_rr_data_t)) != SPF_E_SUCCESS) {
      return false;
    }
    const int family = type == ns_t_a ? AF_INET : AF_INET6;
    void* dst = type == ns_t_a ? static_cast<void*>(&rr->rr[idx]->a)
                               : static_cast<void*>(&rr->rr[idx]->aaaa);
    if (::inet_pton(family, text.c_str(), dst) != 1) {
      return false;
    }
  } else {
    std::string value = text;
    if (type == ns_t_mx) {
      const auto space = value.find(' ');
      value = space == std::string::npos ? value : value.substr(space + 1);
    }
    if (SPF_dns_rr_buf_realloc(rr, idx, value.size() + 1) != SPF_E_SUCCESS) {
      return false;
    }
    std::memcpy(rr->rr[idx]->txt, value.c_str(), value.size() + 1);
  }
  rr->num_rr = idx + 1;
  return true;
}

bool usesSenderMacros(const std::string& record) {
  for (const char* m : {"%{l", "%{L", "%{s", "%{S"}) {
    if (record.find(m) != std::string::npos) {
      return true;
    }
  }
  return false;
}

SPF_dns_rr_t* bridgeLookup(SPF_dns_server_t* layer, const char* domain, ns_type type,
                           int /*should_cache*/) {
  auto* b = static_cast<Bridge*>(layer->hook);
  const bool fixes = b->options->rfc7208_fixes;
  RrType rt;
  switch (type) {
    case ns_t_a:
      rt = RrType::kA;
      break;
    case ns_t_aaaa:
      rt = RrType::kAaaa;
      break;
    case ns_t_mx:
      rt = RrType::kMx;
      break;
    case ns_t_txt:
      rt = RrType::kTxt;
      break;
    case ns_t_ptr:
      rt = RrType::kPtr;
      break;
    default:
      // Type SPF (99) is obsolete (RFC 7208 3.1); anything else libspf2 never needs.
      return makeRr(layer, domain, type, 0, NO_DATA);
  }
  const std::string name = domainKey(domain);
  bool counted = false;
  if (fixes) {
    if (rt == RrType::kTxt) {
      counted = b->first_txt_seen;  // the first TXT query is the policy itself
      b->first_txt_seen = true;
    } else if (rt == RrType::kMx || rt == RrType::kPtr) {
      counted = true;
    } else {
      const auto it = std::find(b->expansion.begin(), b->expansion.end(), name);
      if (it != b->expansion.end()) {
        b->expansion.erase(it);  // an address lookup for an MX or PTR host: part of its term
      } else {
        counted = true;
      }
    }
    if (b->limit_exceeded || b->void_exceeded) {
      return makeRr(layer, domain, type, 0, TRY_AGAIN);
    }
    if (counted && ++b->terms > b->options->max_lookups) {
      b->limit_exceeded = true;
      return makeRr(layer, domain, type, 0, TRY_AGAIN);
    }
  }
  const Answer answer = b->resolver->queryBlocking(name, rt);
  if (answer.status == Status::kTempFail) {
    b->temp_failure = true;
    b->temp_error = answer.error;
    return makeRr(layer, domain, type, 0, TRY_AGAIN);
  }
  b->ttl = std::min(b->ttl, answer.ttl);
  const int ttl = static_cast<int>(std::min<std::uint32_t>(answer.ttl, 86400));
  if (answer.status != Status::kOk || answer.records.empty()) {
    if (fixes && counted && ++b->voids > b->options->max_void_lookups) {
      b->void_exceeded = true;
      return makeRr(layer, domain, type, 0, TRY_AGAIN);
    }
    return makeRr(layer, domain, type, ttl,
                  answer.status == Status::kNxDomain ? HOST_NOT_FOUND : NO_DATA);
  }
  if (rt == RrType::kMx || rt == RrType::kPtr) {
    b->expansion.clear();
  }
  SPF_dns_rr_t* rr = makeRr(layer, domain, type, ttl, NETDB_SUCCESS);
  std::vector<std::string> records = answer.records;
  if (fixes && rt == RrType::kPtr && records.size() > b->options->max_lookups) {
    // RFC 7208 5.5: only the first 10 names are used; libspf2 would call more a permerror.
    records.resize(b->options->max_lookups);
  }
  for (const auto& record : records) {
    if (rt == RrType::kTxt && istartsWith(record, "v=spf1") && usesSenderMacros(record)) {
      b->sender_dependent = true;
    }
    if (!addRecord(rr, type, record)) {
      continue;
    }
    if (rt == RrType::kMx) {
      const auto space = record.find(' ');
      b->expansion.push_back(
          domainKey(space == std::string::npos ? record : record.substr(space + 1)));
    } else if (rt == RrType::kPtr) {
      b->expansion.push_back(domainKey(record));
    }
  }
  if (rr->num_rr == 0) {
    rr->herrno = NO_DATA;
  }
  return rr;
}

SpfResult fromLibspf2(SPF_result_t r) {
  switch (r) {
    case SPF_RESULT_PASS:
      return SpfResult::kPass;
    case SPF_RESULT_FAIL:
      return SpfResult::kFail;
    case SPF_RESULT_SOFTFAIL:
      return SpfResult::kSoftFail;
    case SPF_RESULT_NEUTRAL:
      return SpfResult::kNeutral;
    case SPF_RESULT_NONE:
      return SpfResult::kNone;
    case SPF_RESULT_TEMPERROR:
      return SpfResult::kTempError;
    case SPF_RESULT_PERMERROR:
    case SPF_RESULT_INVALID:
      return SpfResult::kPermError;
  }
  return SpfResult::kPermError;
}

struct ServerDeleter {
  void operator()(SPF_server_t* s) const { SPF_server_free(s); }
};
struct RequestDeleter {
  void operator()(SPF_request_t* r) const { SPF_request_free(r); }
};
struct ResponseDeleter {
  void operator()(SPF_response_t* r) const { SPF_response_free(r); }
};

// The client address for libspf2; an IPv4-mapped IPv6 address is set as IPv4.
bool setClient(SPF_request_t* req, const std::string& ip, bool fixes) {
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    return SPF_request_set_ipv4(req, v4) == SPF_E_SUCCESS;
  }
  if (::inet_pton(AF_INET6, ip.c_str(), &v6) != 1) {
    return false;
  }
  if (fixes && IN6_IS_ADDR_V4MAPPED(&v6)) {
    std::memcpy(&v4, &v6.s6_addr[12], 4);
    return SPF_request_set_ipv4(req, v4) == SPF_E_SUCCESS;
  }
  return SPF_request_set_ipv6(req, v6) == SPF_E_SUCCESS;
}

}  // namespace

std::string_view toString(SpfResult r) {
  switch (r) {
    case SpfResult::kPass:
      return "pass";
    case SpfResult::kFail:
      return "fail";
    case SpfResult::kSoftFail:
      return "softfail";
    case SpfResult::kNeutral:
      return "neutral";
    case SpfResult::kNone:
      return "none";
    case SpfResult::kTempError:
      return "temperror";
    case SpfResult::kPermError:
      return "permerror";
  }
  return "permerror";
}

SpfOutcome evaluateSpf(Resolver& resolver, const SpfQuery& query, const SpfOptions& options) {
  installHandlers();
  Bridge bridge;
  bridge.resolver = &resolver;
  bridge.options = &options;
  bridge.layer.destroy = nullptr;  // owned here, not by libspf2
  bridge.layer.lookup = &bridgeLookup;
  bridge.layer.name = "relayguard";
  bridge.layer.hook = &bridge;

  SpfOutcome out;
  const auto at = query.mail_from.rfind('@');
  out.domain = !query.mail_from.empty() && at != std::string::npos ? query.mail_from.substr(at + 1)
                                                                   : query.helo;

  std::unique_ptr<SPF_server_t, ServerDeleter> server(SPF_server_new_dns(&bridge.layer, 0));
  std::unique_ptr<SPF_request_t, RequestDeleter> request(server ? SPF_request_new(server.get())
                                                                : nullptr);
  if (!server || !request) {
    out.result = SpfResult::kTempError;
    out.comment = "out of memory";
    return out;
  }
  SPF_server_set_rec_dom(server.get(), options.receiver.c_str());
  SPF_server_set_max_dns_mech(server.get(), static_cast<int>(options.max_lookups));
  if (!setClient(request.get(), query.ip, options.rfc7208_fixes)) {
    out.result = SpfResult::kPermError;
    out.comment = "'" + query.ip + "' is not an IP address";
    return out;
  }
  if (!query.helo.empty()) {
    SPF_request_set_helo_dom(request.get(), query.helo.c_str());
  }
  if (SPF_request_set_env_from(request.get(), query.mail_from.c_str()) != 0) {
    out.result = SpfResult::kNone;
    out.comment = "no domain to check";
    return out;
  }
  SPF_response_t* raw_response = nullptr;
  SPF_request_query_mailfrom(request.get(), &raw_response);
  std::unique_ptr<SPF_response_t, ResponseDeleter> response(raw_response);
  if (!response) {
    out.result = SpfResult::kTempError;
    out.comment = "libspf2 returned no response";
    return out;
  }
  const SPF_result_t raw = SPF_response_result(response.get());
  out.result = fromLibspf2(raw);
  out.libspf2_result = SPF_strresult(raw);
  const char* comment = SPF_response_get_header_comment(response.get());
  out.comment = comment != nullptr ? comment : "";
  if (options.rfc7208_fixes) {
    // A refused lookup shows up as libspf2's temperror: the real cause is the limit.
    if (bridge.limit_exceeded && out.result == SpfResult::kTempError) {
      out.result = SpfResult::kPermError;
      out.comment =
          "more than " + std::to_string(options.max_lookups) + " DNS lookups (RFC 7208 4.6.4)";
    } else if (bridge.void_exceeded && out.result == SpfResult::kTempError) {
      out.result = SpfResult::kPermError;
      out.comment = "more than " + std::to_string(options.max_void_lookups) +
                    " void DNS lookups (RFC 7208 4.6.4)";
    } else if (bridge.temp_failure &&
               (raw == SPF_RESULT_INVALID || out.result == SpfResult::kNone ||
                out.result == SpfResult::kPermError)) {
      // libspf2 turns some failed lookups into "invalid" or "none"; RFC 7208 says temperror.
      out.result = SpfResult::kTempError;
    }
    if (out.result == SpfResult::kTempError && bridge.temp_failure) {
      out.comment = bridge.temp_error;
    }
  } else if (raw == SPF_RESULT_INVALID) {
    out.result = SpfResult::kPermError;
  }
  out.ttl = bridge.ttl == std::numeric_limits<std::uint32_t>::max() ? 0 : bridge.ttl;
  out.sender_dependent = bridge.sender_dependent;
  out.lookups = bridge.terms;
  out.void_lookups = bridge.voids;
  return out;
}

}  // namespace relayguard::dns
