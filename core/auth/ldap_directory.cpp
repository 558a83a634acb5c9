// ldap_directory: the LDAP conversation of one AUTH check (see ldap_directory.hpp).
#include "core/auth/ldap_directory.hpp"

#include <memory>
#include <optional>

#include <ldap.h>
#include <sys/time.h>

#include "core/auth/ldap_filter.hpp"

namespace relayguard::auth {
namespace {

using Verdict = DirectoryAnswer::Verdict;

DirectoryAnswer answer(Verdict v, std::string reason) {
  return DirectoryAnswer{v, std::move(reason)};
}

// Result codes that mean "no answer now" rather than "no": client-side failures (server down,
// timeout, connect or TLS errors are negative) and the server's own temporary conditions.
bool temporary(int rc) {
  return rc < 0 || rc == LDAP_BUSY || rc == LDAP_UNAVAILABLE || rc == LDAP_TIMELIMIT_EXCEEDED ||
         rc == LDAP_ADMINLIMIT_EXCEEDED || rc == LDAP_OTHER ||
         rc == LDAP_UNAVAILABLE_CRITICAL_EXTENSION;
}

// A user name worth asking the directory about: not empty, not absurdly long, no control
// characters (NUL would cut the name short in C APIs).
bool usableUser(const std::string& user) {
  if (user.empty() || user.size() > 256) {
    return false;
  }
  for (const char c : user) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return false;
    }
  }
  return true;
}

struct MessageFree {
  void operator()(LDAPMessage* m) const { ldap_msgfree(m); }
};
using Message = std::unique_ptr<LDAPMessage, MessageFree>;

// One connection to the directory, closed (unbound) with the object. Its socket is watched by
// `deadlines`: libldap's timeouts bound connecting and waiting for results, but not the TLS
// handshake, so each step also gets a deadline (its timeout and a second) after which the socket
// is shut down.
class Connection {
 public:
  Connection(const LdapAuthConfig& config, SocketDeadlines& deadlines)
      : config_(config), deadlines_(deadlines) {
    timeout_.tv_sec = static_cast<time_t>(config_.timeout.count());
    callback_.lc_add = &Connection::connected;
    callback_.lc_del = &Connection::closing;
    callback_.lc_arg = this;
  }
  ~Connection() {
    disarm();
    if (ld_ != nullptr) {
      ldap_unbind_ext_s(ld_, nullptr, nullptr);
    }
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sets the handle up and, for ldap:// URLs, runs StartTLS. An error text, or nullopt.
  std::optional<std::string> open() {
    int rc = ldap_initialize(&ld_, config_.urlList().c_str());
    if (rc != LDAP_SUCCESS) {
      return what("cannot initialise", rc);
    }
    const timeval& tv = timeout_;
    const int version = LDAP_VERSION3;
    const int demand = LDAP_OPT_X_TLS_DEMAND;
    const int tls12 = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
    const int client = 0;
    const int* no_dir = nullptr;
    if (ldap_set_option(ld_, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld_, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld_, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld_, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld_, LDAP_OPT_CONNECT_CB, &callback_) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld_, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld_, LDAP_OPT_X_TLS_CACERTFILE, config_.ca_file.c_str()) !=
            LDAP_OPT_SUCCESS ||
        ldap_set_option(ld_, LDAP_OPT_X_TLS_CACERTDIR, no_dir) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld_, LDAP_OPT_X_TLS_PROTOCOL_MIN, &tls12) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld_, LDAP_OPT_X_TLS_NEWCTX, &client) != LDAP_OPT_SUCCESS) {
      return "cannot set the LDAP connection options (TLS context from " +
             config_.ca_file.string() + ")";
    }
    if (config_.start_tls) {
      arm();
      rc = ldap_start_tls_s(ld_, nullptr, nullptr);
      if (rc != LDAP_SUCCESS) {
        return what("StartTLS failed", rc);
      }
    }
    return std::nullopt;
  }

  // A simple bind; the result code.
  int bind(const std::string& dn, const std::string& password) {
    arm();
    berval cred{};
    cred.bv_len = password.size();
    cred.bv_val = const_cast<char*>(password.data());
    return ldap_sasl_bind_s(ld_, dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
  }

  // A search that asks for no attributes (only DNs); sets `rc` and returns the entries.
  Message search(const std::string& base, int scope, const std::string& filter, int& rc) {
    arm();
    timeval tv = timeout_;
    char no_attributes[] = LDAP_NO_ATTRS;
    char* attrs[] = {no_attributes, nullptr};
    LDAPMessage* res = nullptr;
    // A size limit of 2 is enough to tell "exactly one" from "more than one".
    rc = ldap_search_ext_s(ld_, base.c_str(), scope, filter.c_str(), attrs, 0, nullptr, nullptr,
                           &tv, 2, &res);
    return Message(res);
  }

  int count(LDAPMessage* res) const { return res == nullptr ? 0 : ldap_count_entries(ld_, res); }
  std::string dnOf(LDAPMessage* res) const {
    char* dn = ldap_get_dn(ld_, ldap_first_entry(ld_, res));
    std::string out = dn != nullptr ? dn : "";
    ldap_memfree(dn);
    return out;
  }

  // "<what>: <libldap's text> (<server's or TLS layer's diagnostic>)".
  std::string what(const std::string& doing, int rc) const {
    std::string out = doing + ": " + ldap_err2string(rc);
    char* diag = nullptr;
    if (ld_ != nullptr && ldap_get_option(ld_, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag) == 0 &&
        diag != nullptr) {
      if (diag[0] != '\0') {
        out += std::string(" (") + diag + ")";
      }
      ldap_memfree(diag);
    }
    return out;
  }

 private:
  // libldap's connection callbacks: the TCP connection is up (TLS not yet started) or about to
  // be closed.
  static int connected(LDAP* /*ld*/, Sockbuf* sb, LDAPURLDesc* /*srv*/, sockaddr* /*addr*/,
                       ldap_conncb* ctx) {
    auto* self = static_cast<Connection*>(ctx->lc_arg);
    int fd = -1;
    if (ber_sockbuf_ctrl(sb, LBER_SB_OPT_GET_FD, &fd) == 1 && fd >= 0) {
      self->disarm();
      self->fd_ = fd;
      self->arm();
    }
    return 0;
  }
  static void closing(LDAP* /*ld*/, Sockbuf* /*sb*/, ldap_conncb* ctx) {
    static_cast<Connection*>(ctx->lc_arg)->disarm();
  }
  void arm() {
    if (fd_ >= 0) {
      deadlines_.watch(fd_,
                       SocketDeadlines::Clock::now() + config_.timeout + std::chrono::seconds(1));
    }
  }
  void disarm() {
    if (fd_ >= 0) {
      deadlines_.forget(fd_);
      fd_ = -1;
    }
  }

  const LdapAuthConfig& config_;
  SocketDeadlines& deadlines_;
  timeval timeout_{};
  ldap_conncb callback_{};  // libldap keeps a pointer to it: it lives as long as ld_
  int fd_ = -1;             // the connection's socket once connected
  LDAP* ld_ = nullptr;
};

// The required_group check, on the service account's connection. nullopt: a member.
std::optional<DirectoryAnswer> checkGroup(Connection& c, const LdapAuthConfig& config,
                                          const std::string& user_dn) {
  int rc = 0;
  Message res;
  if (config.group_membership == LdapGroupMembership::kMember) {
    res = c.search(config.required_group, LDAP_SCOPE_BASE,
                   "(member=" + escapeFilterValue(user_dn) + ")", rc);
  } else {
    res = c.search(user_dn, LDAP_SCOPE_BASE,
                   "(memberOf=" + escapeFilterValue(config.required_group) + ")", rc);
  }
  if (rc == LDAP_NO_SUCH_OBJECT && config.group_membership == LdapGroupMembership::kMember) {
    return answer(Verdict::kUnavailable,
                  "required_group " + config.required_group + " does not exist in the directory");
  }
  if (rc != LDAP_SUCCESS) {
    return answer(Verdict::kUnavailable, c.what("group membership search failed", rc));
  }
  if (c.count(res.get()) != 1) {
    return answer(Verdict::kRejected, "not a member of required_group");
  }
  return std::nullopt;
}

}  // namespace

LdapDirectory::LdapDirectory(LdapAuthConfig config)
    : config_(std::move(config)), deadlines_(std::make_unique<SocketDeadlines>()) {
  // libldap initialises its global defaults on first use; do it here, on one thread.
  int version = 0;
  ldap_get_option(nullptr, LDAP_OPT_PROTOCOL_VERSION, &version);
}

DirectoryAnswer LdapDirectory::check(const std::string& user, const std::string& password) const {
  DirectoryAnswer a = ask(user, password);
  if (a.verdict == Verdict::kUnavailable) {
    a.reason = "directory " + config_.urlList() + ": " + a.reason;
  }
  return a;
}

DirectoryAnswer LdapDirectory::ask(const std::string& user, const std::string& password) const {
  if (password.empty()) {
    // To LDAP this would be an unauthenticated bind, which succeeds (RFC 4513 5.1.2).
    return answer(Verdict::kRejected, "empty password");
  }
  if (!usableUser(user)) {
    return answer(Verdict::kRejected, "user name not usable for a directory search");
  }
  Connection c(config_, *deadlines_);
  if (auto error = c.open()) {
    return answer(Verdict::kUnavailable, *error);
  }
  // The service account, or an anonymous bind when none is configured.
  int rc = c.bind(config_.bind_dn, config_.bind_password);
  if (rc != LDAP_SUCCESS) {
    const std::string who = config_.bind_dn.empty() ? "anonymous" : config_.bind_dn;
    return answer(Verdict::kUnavailable, c.what("bind as " + who + " failed", rc));
  }
  Message found =
      c.search(config_.base_dn, LDAP_SCOPE_SUBTREE, userFilter(config_.user_filter, user), rc);
  if (rc == LDAP_SIZELIMIT_EXCEEDED || (rc == LDAP_SUCCESS && c.count(found.get()) > 1)) {
    return answer(Verdict::kRejected, "user_filter matches more than one entry");
  }
  if (rc != LDAP_SUCCESS) {
    // Down, or base_dn or the filter is wrong: either way not the client's fault.
    return answer(Verdict::kUnavailable, c.what("user search failed", rc));
  }
  if (c.count(found.get()) == 0) {
    return answer(Verdict::kRejected, "no such user in the directory");
  }
  const std::string dn = c.dnOf(found.get());
  if (!config_.required_group.empty()) {
    if (auto denied = checkGroup(c, config_, dn)) {
      return *denied;
    }
  }
  rc = c.bind(dn, password);
  if (rc == LDAP_SUCCESS) {
    return answer(Verdict::kAccepted, "");
  }
  if (temporary(rc)) {
    return answer(Verdict::kUnavailable, c.what("user bind failed", rc));
  }
  // Invalid credentials, and the policy refusals (account disabled, locked or expired).
  return answer(Verdict::kRejected, c.what("user bind refused", rc));
}

}  // namespace relayguard::auth
