// tls_context: building the listeners' OpenSSL server context (see tls_context.hpp).
#include "core/net/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace relayguard::net {
namespace {

// Mozilla "intermediate" TLS 1.2 suites (forward secrecy, AEAD only), ECDHE only.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// The most recent OpenSSL error as text, and the queue cleared.
std::string opensslError() {
  unsigned long last = 0;
  while (const unsigned long e = ERR_get_error()) {
    last = e;
  }
  if (last == 0) {
    return "unknown OpenSSL error";
  }
  char buf[256];
  ERR_error_string_n(last, buf, sizeof buf);
  return buf;
}

}  // namespace

std::shared_ptr<asio::ssl::context> makeServerTlsContext(const TlsConfig& tls) {
  ERR_clear_error();
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* h = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(h, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(h, kTls12Ciphers) != 1) {
    throw ConfigError(SourcePosition{tls.certificate},
                      "cannot set up the TLS policy: " + opensslError());
  }
  SSL_CTX_set_options(
      h, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(h, tls.certificate.c_str()) != 1) {
    throw ConfigError(SourcePosition{tls.certificate},
                      "cannot load the TLS certificate: " + opensslError());
  }
  if (SSL_CTX_use_PrivateKey_file(h, tls.private_key.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
      throw ConfigError(SourcePosition{tls.private_key},
                        "cannot load the TLS private key: " + opensslError());
    }
    ERR_clear_error();
    throw ConfigError(
        SourcePosition{tls.private_key},
        "the TLS private key does not belong to the certificate " + tls.certificate.string());
  }
  if (SSL_CTX_check_private_key(h) != 1) {
    throw ConfigError(
        SourcePosition{tls.private_key},
        "the TLS private key does not belong to the certificate " + tls.certificate.string());
  }
  return ctx;
}

std::string describeTls(const SSL* ssl) {
  if (ssl == nullptr) {
    return "none";
  }
  return std::string(SSL_get_version(ssl)) + " " + SSL_get_cipher_name(ssl);
}

}  // namespace relayguard::net
