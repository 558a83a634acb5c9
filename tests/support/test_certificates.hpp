// test_certificates: a throw-away PKI for TLS tests, made with OpenSSL at test time (no
// certificate files in the repository). One CA signs leaf certificates for the names a test
// asks for; every key is P-256. Files are PEM; private keys are written mode 0600.
//
//   TestCa ca(dir.path());                              // dir/ca.pem (+ its key, in memory)
//   auto leaf = ca.issue("relay", {"localhost"}, {"127.0.0.1"});
//   // leaf.certificate = dir/relay.crt.pem, leaf.private_key = dir/relay.key.pem
//
// A client that trusts ca.pem and checks the name "localhost" accepts `leaf`; a leaf issued
// for another name, or a self-signed leaf (selfSigned()), is refused by a verifying client.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <openssl/types.h>

namespace relayguard::test {

struct TestCertificate {
  std::filesystem::path certificate;  // the leaf certificate, PEM
  std::filesystem::path private_key;  // its key, PKCS#8 PEM, mode 0600
};

class TestCa {
 public:
  // Creates the CA key and certificate and writes dir/ca.pem.
  explicit TestCa(std::filesystem::path dir);
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  const std::filesystem::path& caFile() const { return ca_file_; }

  // A leaf signed by this CA with the given DNS names and IP addresses as subjectAltName.
  TestCertificate issue(const std::string& file_stem, const std::vector<std::string>& dns_names,
                        const std::vector<std::string>& ip_addresses = {}) const;

  // A leaf for the same names, signed by its own key instead of this CA (untrusted).
  TestCertificate selfSigned(const std::string& file_stem,
                             const std::vector<std::string>& dns_names) const;

 private:
  struct Impl;
  TestCertificate write(const std::string& file_stem, X509* cert, EVP_PKEY* key) const;
  std::filesystem::path dir_;
  std::filesystem::path ca_file_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace relayguard::test
