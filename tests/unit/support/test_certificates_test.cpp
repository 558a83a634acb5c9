// test_certificates_test: the test PKI behaves like a real one, so TLS tests built on it can
// fail: a CA-issued leaf verifies for its names only, a self-signed leaf does not verify.
#include "tests/support/test_certificates.hpp"

#include <cstdio>

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "tests/support/temp_dir.hpp"

namespace relayguard::test {
namespace {

// X509 verification of `cert_file` against `ca_file`, checking `host` (a DNS name or an IP).
// Returns the OpenSSL verify error (X509_V_OK when trusted).
int verify(const std::filesystem::path& ca_file, const std::filesystem::path& cert_file,
           const std::string& host) {
  FILE* f = std::fopen(cert_file.c_str(), "r");
  if (f == nullptr) {
    return -1;
  }
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_load_file(store, ca_file.c_str());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, cert, nullptr);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
  if (host.find_first_not_of("0123456789.") == std::string::npos) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
  }
  const int result = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  X509_free(cert);
  return result;
}

TEST(TestCertificates, IssuedLeafVerifiesForItsNamesOnly) {
  TempDir dir;
  TestCa ca(dir.path());
  const auto leaf = ca.issue("relay", {"localhost", "relay.example.test"}, {"127.0.0.1"});
  EXPECT_EQ(verify(ca.caFile(), leaf.certificate, "localhost"), X509_V_OK);
  EXPECT_EQ(verify(ca.caFile(), leaf.certificate, "relay.example.test"), X509_V_OK);
  EXPECT_EQ(verify(ca.caFile(), leaf.certificate, "127.0.0.1"), X509_V_OK);
  EXPECT_EQ(verify(ca.caFile(), leaf.certificate, "other.example.test"),
            X509_V_ERR_HOSTNAME_MISMATCH);
  EXPECT_EQ(std::filesystem::status(leaf.private_key).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST(TestCertificates, SelfSignedLeafIsNotTrusted) {
  TempDir dir;
  TestCa ca(dir.path());
  const auto rogue = ca.selfSigned("rogue", {"localhost"});
  EXPECT_EQ(verify(ca.caFile(), rogue.certificate, "localhost"),
            X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
}

}  // namespace
}  // namespace relayguard::test
