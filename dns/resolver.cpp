// resolver: names of record types and answer states (see resolver.hpp).
#include "dns/resolver.hpp"

namespace relayguard::dns {

std::string_view toString(RrType t) {
  switch (t) {
    case RrType::kA:
      return "A";
    case RrType::kCname:
      return "CNAME";
    case RrType::kPtr:
      return "PTR";
    case RrType::kMx:
      return "MX";
    case RrType::kTxt:
      return "TXT";
    case RrType::kAaaa:
      return "AAAA";
  }
  return "?";
}

std::string_view toString(Status s) {
  switch (s) {
    case Status::kOk:
      return "ok";
    case Status::kNoData:
      return "nodata";
    case Status::kNxDomain:
      return "nxdomain";
    case Status::kTempFail:
      return "tempfail";
  }
  return "?";
}

}  // namespace relayguard::dns
