// tls_context_test: the server context loads a real certificate and key, enforces TLS 1.2 as
// the minimum, and refuses unreadable files and a key that belongs to another certificate with
// an error naming the file.
#include "core/net/tls_context.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "tests/support/temp_dir.hpp"
#include "tests/support/test_certificates.hpp"

namespace relayguard::net {
namespace {

std::string errorOf(const TlsConfig& tls) {
  try {
    makeServerTlsContext(tls);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(TlsContextTest, LoadsCertificateWithTls12Minimum) {
  test::TempDir dir;
  test::TestCa ca(dir.path());
  const auto leaf = ca.issue("relay", {"localhost"});
  const auto ctx = makeServerTlsContext(TlsConfig{leaf.certificate, leaf.private_key});
  ASSERT_NE(ctx, nullptr);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx->native_handle()), TLS1_2_VERSION);
  EXPECT_NE(SSL_CTX_get_options(ctx->native_handle()) & SSL_OP_NO_RENEGOTIATION, 0U);
}

TEST(TlsContextTest, RefusesBadFilesNamingThem) {
  test::TempDir dir;
  test::TestCa ca(dir.path());
  const auto a = ca.issue("a", {"a.test"});
  const auto b = ca.issue("b", {"b.test"});
  const auto garbage = dir.write("garbage.pem", "not a certificate\n");
  EXPECT_TRUE(errorOf(TlsConfig{garbage, a.private_key})
                  .starts_with(garbage.string() + ": cannot load the TLS certificate"))
      << errorOf(TlsConfig{garbage, a.private_key});
  EXPECT_TRUE(errorOf(TlsConfig{a.certificate, dir.path() / "missing.pem"})
                  .starts_with((dir.path() / "missing.pem").string() +
                               ": cannot load the TLS private key"));
  EXPECT_NE(errorOf(TlsConfig{a.certificate, b.private_key})
                .find("the TLS private key does not belong to the certificate"),
            std::string::npos);
}

}  // namespace
}  // namespace relayguard::net
