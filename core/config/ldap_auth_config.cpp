// ldap_auth_config: loading and checking [auth.ldap] (see ldap_auth_config.hpp).
#include "core/config/ldap_auth_config.hpp"

#include <memory>

#include <ldap.h>

#include "core/auth/ldap_filter.hpp"
#include "core/config/config_files.hpp"

namespace relayguard {
namespace {

// Checks one URL with libldap's parser: ldap:// or ldaps://, a host, nothing after the port.
// Returns its scheme.
std::string checkUrl(const SourcePosition& where, const std::string& url) {
  LDAPURLDesc* desc = nullptr;
  if (ldap_url_parse(url.c_str(), &desc) != LDAP_URL_SUCCESS) {
    throw ConfigError(where,
                      "url: '" + url + "' is not an LDAP URL such as ldaps://dc1.example.test");
  }
  const std::unique_ptr<LDAPURLDesc, decltype(&ldap_free_urldesc)> owned(desc, &ldap_free_urldesc);
  const std::string scheme = desc->lud_scheme != nullptr ? desc->lud_scheme : "";
  if (scheme != "ldap" && scheme != "ldaps") {
    throw ConfigError(where, "url: '" + url +
                                 "' must be ldaps://host (TLS) or ldap://host (StartTLS); ldapi:// "
                                 "and others are not supported");
  }
  if (desc->lud_host == nullptr || desc->lud_host[0] == '\0') {
    throw ConfigError(where, "url: '" + url + "' names no host");
  }
  if ((desc->lud_dn != nullptr && desc->lud_dn[0] != '\0') || desc->lud_attrs != nullptr ||
      desc->lud_filter != nullptr || desc->lud_exts != nullptr) {
    throw ConfigError(where, "url: '" + url +
                                 "' must be only scheme://host[:port] (base_dn and user_filter "
                                 "are keys of their own)");
  }
  return scheme;
}

void loadUrls(LdapAuthConfig& ldap, TomlReader& r, const toml::table& t) {
  if (!r.has("url")) {
    throw ConfigError(r.position(), "[auth.ldap] needs 'url' (ldaps://host or ldap://host)");
  }
  std::vector<std::string> urls;
  if (t.get("url")->is_array()) {
    urls = *r.stringArray("url");
    if (urls.empty()) {
      r.fail("url", "needs at least one URL");
    }
  } else {
    urls.push_back(*r.string("url"));
  }
  std::string first_scheme;
  for (std::size_t i = 0; i < urls.size(); ++i) {
    const auto where = r.elementPosition("url", i);
    const std::string scheme = checkUrl(where, urls[i]);
    if (i == 0) {
      first_scheme = scheme;
    } else if (scheme != first_scheme) {
      throw ConfigError(where, "url: all URLs must use the same scheme (ldaps:// or ldap://)");
    }
  }
  ldap.urls = std::move(urls);
  ldap.start_tls = first_scheme == "ldap";
}

std::string dnKey(TomlReader& r, std::string_view key, bool required) {
  std::string dn = required ? r.requiredString(key) : r.string(key).value_or("");
  if ((required || !dn.empty()) && (dn.empty() || !auth::validDn(dn))) {
    r.fail(key, "'" + dn + "' is not a distinguished name such as DC=example,DC=test");
  }
  return dn;
}

void loadBind(LdapAuthConfig& ldap, TomlReader& r, const std::filesystem::path& base) {
  ldap.bind_dn = dnKey(r, "bind_dn", false);
  if (auto pw = r.string("bind_password_file")) {
    ldap.bind_password_file = resolveConfigPath(base, *pw);
  }
  if (ldap.bind_dn.empty() != ldap.bind_password_file.empty()) {
    r.fail(ldap.bind_dn.empty() ? "bind_password_file" : "bind_dn",
           "bind_dn and bind_password_file go together (neither: anonymous search)");
  }
  if (!ldap.bind_dn.empty()) {
    ldap.bind_password = readSecretFile(r, "bind_password_file", ldap.bind_password_file);
  }
}

void loadSearch(LdapAuthConfig& ldap, TomlReader& r) {
  ldap.base_dn = dnKey(r, "base_dn", true);
  if (auto filter = r.string("user_filter")) {
    ldap.user_filter = *filter;
  }
  if (auto problem = auth::userFilterTemplateProblem(ldap.user_filter)) {
    r.fail("user_filter", *problem);
  }
  ldap.required_group = dnKey(r, "required_group", false);
  if (auto how = r.choice("group_membership", {"member", "memberOf"})) {
    if (ldap.required_group.empty()) {
      r.fail("group_membership", "has no effect without required_group");
    }
    ldap.group_membership =
        *how == "member" ? LdapGroupMembership::kMember : LdapGroupMembership::kMemberOf;
  }
}

}  // namespace

std::string LdapAuthConfig::urlList() const {
  std::string out;
  for (const auto& u : urls) {
    out += (out.empty() ? "" : " ") + u;
  }
  return out;
}

std::optional<LdapAuthConfig> loadAuthLdap(TomlReader& top, const std::filesystem::path& base) {
  const toml::table* auth = top.table("auth");
  if (auth == nullptr) {
    return std::nullopt;
  }
  TomlReader auth_reader(*auth, top.file());
  const toml::table* t = auth_reader.table("ldap");
  auth_reader.finish();
  if (t == nullptr) {
    return std::nullopt;
  }
  TomlReader r(*t, top.file());
  LdapAuthConfig ldap;
  ldap.where = r.position();
  loadUrls(ldap, r, *t);
  ldap.ca_file = resolveConfigPath(base, r.string("ca_file").value_or(kSystemCaBundle));
  requirePemCertificates(r, "ca_file", ldap.ca_file);
  loadBind(ldap, r, base);
  loadSearch(ldap, r);
  if (auto v = r.duration("timeout")) {
    if (v->count() < 1 || *v > std::chrono::minutes(1)) {
      r.fail("timeout", "must be between 1s and 60s");
    }
    ldap.timeout = *v;
  }
  if (auto v = r.duration("cache_ttl")) {
    if (*v > std::chrono::hours(1)) {
      r.fail("cache_ttl", "must be at most 1h (0 turns the cache off)");
    }
    ldap.cache_ttl = *v;
  }
  if (auto v = r.integer("concurrency", 1, 64)) {
    ldap.concurrency = static_cast<std::size_t>(*v);
  }
  r.finish();
  return ldap;
}

}  // namespace relayguard
