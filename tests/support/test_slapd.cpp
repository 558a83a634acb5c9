// test_slapd: config, data and process control of the test slapd (see test_slapd.hpp).
#include "tests/support/test_slapd.hpp"

#include <csignal>
#include <fstream>
#include <stdexcept>

namespace relayguard::test {
namespace {

constexpr const char* kRootDn = "cn=admin,dc=example,dc=test";
constexpr const char* kRootPassword = "admin secret";

// The two Active Directory names the tests use, on top of inetOrgPerson.
constexpr const char* kSchema = R"(attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.2.840.113556.1.5.9 NAME 'user' SUP inetOrgPerson STRUCTURAL MAY sAMAccountName )
)";

std::string user(const std::string& uid, const std::string& sam, const std::string& password,
                 bool in_group, const std::string& cn = "") {
  const std::string name = cn.empty() ? uid : cn;
  std::string out = "dn: " + TestSlapd::userDn(name) + "\nobjectClass: user\ncn: " + name +
                    "\nsn: " + name + "\nsAMAccountName: " + sam + "\nmail: " + uid +
                    "@example.test\nuserPassword: " + password + "\n";
  if (in_group) {
    out += std::string("memberOf: ") + TestSlapd::kGroupDn + "\n";
  }
  return out + "\n";
}

std::string directory() {
  return std::string(
             "dn: dc=example,dc=test\nobjectClass: dcObject\nobjectClass: organization\n"
             "o: Example\ndc: example\n\n") +
         "dn: ou=people,dc=example,dc=test\nobjectClass: organizationalUnit\nou: people\n\n" +
         "dn: ou=groups,dc=example,dc=test\nobjectClass: organizationalUnit\nou: groups\n\n" +
         "dn: ou=services,dc=example,dc=test\nobjectClass: organizationalUnit\nou: services\n\n" +
         "dn: " + TestSlapd::kServiceDn +
         "\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: relay\n"
         "userPassword: " +
         TestSlapd::kServicePassword + "\n\n" + user("alice", "alice", "alice's secret", true) +
         user("bob", "bob", "bob's secret", false) +
         user("twin", "twin", "twin secret", true, "twin1") +
         user("twin", "twin", "twin secret", true, "twin2") + "dn: " + TestSlapd::kGroupDn +
         "\nobjectClass: groupOfNames\ncn: Mail-Relay-Senders\nmember: " +
         TestSlapd::userDn("alice") + "\nmember: " + TestSlapd::userDn("twin1") +
         "\nmember: " + TestSlapd::userDn("twin2") + "\n";
}

void writeText(const std::filesystem::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::trunc);
  out << text;
  if (!out) {
    throw std::runtime_error("cannot write " + file.string());
  }
}

}  // namespace

std::filesystem::path madeDirectory(std::filesystem::path dir) {
  std::filesystem::create_directories(dir);
  return dir;
}

LdapAuthConfig TestSlapd::authConfig(bool ldaps, const std::filesystem::path& ca_file) const {
  LdapAuthConfig c;
  c.urls = {ldaps ? ldapsUrl() : ldapUrl()};
  c.start_tls = !ldaps;
  c.ca_file = ca_file;
  c.bind_dn = kServiceDn;
  c.bind_password = kServicePassword;
  c.base_dn = kBaseDn;
  c.user_filter = kUserFilter;
  c.required_group = kGroupDn;
  c.timeout = std::chrono::seconds(2);
  return c;
}

std::string TestSlapd::userDn(const std::string& uid) {
  return "cn=" + uid + ",ou=people," + kBaseDn;
}

TestSlapd::TestSlapd(std::filesystem::path dir, const TestCertificate& tls)
    : dir_(std::move(dir)), ldap_port_(freeLoopbackPort()), ldaps_port_(freeLoopbackPort()) {
  while (ldaps_port_ == ldap_port_) {
    ldaps_port_ = freeLoopbackPort();
  }
  std::filesystem::create_directories(dir_ / "db");
  writeText(dir_ / "ad.schema", kSchema);
  writeText(dir_ / "slapd.conf",
            "include /etc/ldap/schema/core.schema\n"
            "include /etc/ldap/schema/cosine.schema\n"
            "include /etc/ldap/schema/inetorgperson.schema\n"
            "include " +
                (dir_ / "ad.schema").string() + "\n" +
                "modulepath /usr/lib/ldap\nmoduleload back_mdb\nmoduleload memberof\n"
                // Like an Active Directory that is not hardened: a DN with an empty password is
                // an unauthenticated bind, and it succeeds.
                "allow bind_anon_dn\n"
                "pidfile " +
                (dir_ / "slapd.pid").string() + "\n" + "TLSCertificateFile " +
                tls.certificate.string() + "\n" + "TLSCertificateKeyFile " +
                tls.private_key.string() + "\n" + "database mdb\nmaxsize 10485760\nsuffix \"" +
                kBaseDn + "\"\n" + "rootdn \"" + kRootDn + "\"\nrootpw \"" + kRootPassword +
                "\"\n" + "directory " + (dir_ / "db").string() + "\n" +
                "overlay memberof\n"
                "access to attrs=userPassword by anonymous auth by * none\n"
                "access to * by users read by * none\n");
  writeText(dir_ / "directory.ldif", directory());
  const auto loaded = runCommand("/usr/sbin/slapadd", {"-f", (dir_ / "slapd.conf").string(), "-l",
                                                       (dir_ / "directory.ldif").string()});
  if (loaded.exit_status != 0) {
    throw std::runtime_error("slapadd failed: " + loaded.err + loaded.out);
  }
}

TestSlapd::~TestSlapd() {
  stop();
}

void TestSlapd::start() {
  process_ = std::make_unique<ChildProcess>(
      "/usr/sbin/slapd",
      std::vector<std::string>{"-f", (dir_ / "slapd.conf").string(), "-h",
                               ldapUrl() + "/ " + ldapsUrl() + "/", "-d", "0"},
      dir_ / "slapd.log");
  using std::chrono::seconds;
  if (!process_->waitForPort("127.0.0.1", ldap_port_, seconds(5)) ||
      !process_->waitForPort("127.0.0.1", ldaps_port_, seconds(5))) {
    throw std::runtime_error("slapd did not start: " + process_->log());
  }
}

void TestSlapd::stop() {
  if (!process_) {
    return;
  }
  process_->signal(SIGTERM);
  if (!process_->wait(std::chrono::seconds(5))) {
    process_->kill9();
  }
  process_.reset();
}

void TestSlapd::setPassword(const std::string& uid, const std::string& password) {
  const auto changed = runCommand(
      "/usr/bin/ldapmodify", {"-x", "-H", ldapUrl(), "-D", kRootDn, "-w", kRootPassword},
      std::chrono::seconds(10),
      "dn: " + userDn(uid) +
          "\nchangetype: modify\nreplace: userPassword\nuserPassword: " + password + "\n");
  if (changed.exit_status != 0) {
    throw std::runtime_error("ldapmodify failed: " + changed.err + changed.out);
  }
}

TestDirectoryServer::TestDirectoryServer(const std::filesystem::path& dir)
    : ca(madeDirectory(dir / "pki")),
      slapd(dir / "slapd", ca.issue("slapd", {"localhost"}, {"127.0.0.1"})) {
  slapd.start();
}

}  // namespace relayguard::test
