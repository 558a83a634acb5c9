// test_certificates: OpenSSL 3 EVP/X509 code behind TestCa (see test_certificates.hpp).
#include "tests/support/test_certificates.hpp"

#include <cstdio>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

namespace relayguard::test {
namespace {

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

void check(bool ok, const char* what) {
  if (!ok) {
    throw std::runtime_error(std::string("test certificates: ") + what + " failed");
  }
}

Key newKey() {
  Key key(EVP_EC_gen("P-256"));
  check(key != nullptr, "EVP_EC_gen");
  return key;
}

void addExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(ok == 1, "X509_add_ext");
}

using Extensions = std::vector<std::pair<int, std::string>>;

// A certificate for `subject_key` named `common_name` with `extensions`, signed by `signer_key`
// as `issuer` (self-signed when issuer is null). Valid from an hour ago for a day.
Cert makeCertificate(EVP_PKEY* subject_key, const std::string& common_name, X509* issuer,
                     EVP_PKEY* signer_key, long serial, const Extensions& extensions) {
  Cert cert(X509_new());
  check(cert != nullptr, "X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_set_pubkey(cert.get(), subject_key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509* issuer_cert = issuer != nullptr ? issuer : cert.get();
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert)) == 1,
        "X509_set_issuer_name");
  addExtension(cert.get(), issuer_cert, NID_subject_key_identifier, "hash");
  if (issuer != nullptr) {
    addExtension(cert.get(), issuer_cert, NID_authority_key_identifier, "keyid:always");
  }
  for (const auto& [nid, value] : extensions) {
    addExtension(cert.get(), issuer_cert, nid, value);
  }
  check(X509_sign(cert.get(), signer_key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

std::string altNames(const std::vector<std::string>& dns_names,
                     const std::vector<std::string>& ip_addresses) {
  std::string out;
  for (const auto& n : dns_names) {
    out += (out.empty() ? "" : ",") + std::string("DNS:") + n;
  }
  for (const auto& ip : ip_addresses) {
    out += (out.empty() ? "" : ",") + std::string("IP:") + ip;
  }
  return out;
}

FILE* openForWriting(const std::filesystem::path& path, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  check(fd >= 0, "open");
  ::fchmod(fd, mode);
  FILE* f = ::fdopen(fd, "w");
  check(f != nullptr, "fdopen");
  return f;
}

void writeCertificate(const std::filesystem::path& path, X509* cert) {
  FILE* f = openForWriting(path, 0644);
  const int ok = PEM_write_X509(f, cert);
  std::fclose(f);
  check(ok == 1, "PEM_write_X509");
}

void writeKey(const std::filesystem::path& path, EVP_PKEY* key) {
  FILE* f = openForWriting(path, 0600);
  const int ok = PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  check(ok == 1, "PEM_write_PrivateKey");
}

}  // namespace

struct TestCa::Impl {
  Key key;
  Cert cert;
  mutable long next_serial = 2;
};

TestCa::TestCa(std::filesystem::path dir)
    : dir_(std::move(dir)), ca_file_(dir_ / "ca.pem"), impl_(std::make_unique<Impl>()) {
  impl_->key = newKey();
  impl_->cert = makeCertificate(
      impl_->key.get(), "relayguard test CA", nullptr, impl_->key.get(), 1,
      {{NID_basic_constraints, "critical,CA:TRUE"}, {NID_key_usage, "critical,keyCertSign"}});
  writeCertificate(ca_file_, impl_->cert.get());
}

TestCa::~TestCa() = default;

TestCertificate TestCa::issue(const std::string& file_stem,
                              const std::vector<std::string>& dns_names,
                              const std::vector<std::string>& ip_addresses) const {
  Key key = newKey();
  Cert cert = makeCertificate(key.get(), dns_names.empty() ? file_stem : dns_names.front(),
                              impl_->cert.get(), impl_->key.get(), impl_->next_serial++,
                              {{NID_subject_alt_name, altNames(dns_names, ip_addresses)},
                               {NID_ext_key_usage, "serverAuth,clientAuth"}});
  return write(file_stem, cert.get(), key.get());
}

TestCertificate TestCa::selfSigned(const std::string& file_stem,
                                   const std::vector<std::string>& dns_names) const {
  Key key = newKey();
  Cert cert = makeCertificate(key.get(), dns_names.empty() ? file_stem : dns_names.front(), nullptr,
                              key.get(), 1, {{NID_subject_alt_name, altNames(dns_names, {})}});
  return write(file_stem, cert.get(), key.get());
}

TestCertificate TestCa::write(const std::string& file_stem, X509* cert, EVP_PKEY* key) const {
  TestCertificate out{dir_ / (file_stem + ".crt.pem"), dir_ / (file_stem + ".key.pem")};
  writeCertificate(out.certificate, cert);
  writeKey(out.private_key, key);
  return out;
}

}  // namespace relayguard::test
