// tls_context: the server-side TLS configuration of the listeners ([tls] certificate and
// private_key), built on OpenSSL 3 through asio::ssl.
//
// Policy: TLS 1.2 is the minimum; TLS 1.2 offers only forward-secret AEAD suites (ECDHE with
// AES-GCM or ChaCha20-Poly1305; Mozilla's "intermediate" list without DHE), TLS 1.3 keeps
// OpenSSL's defaults; compression and renegotiation are off and the server's cipher order wins.
// The certificate file may hold the whole chain (leaf first). A context is immutable once built:
// SIGHUP builds a new one from the same files and swaps it into the TlsContextSlot; sessions
// keep the context they started with. A certificate or key that does not load (or a key that
// does not match the certificate) is refused with a ConfigError naming the file, and the old
// context stays in force.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <asio/ssl/context.hpp>

#include "core/config/config.hpp"

namespace relayguard::net {

using TlsContextSlot = std::atomic<std::shared_ptr<asio::ssl::context>>;

// Throws ConfigError ("file: what is wrong").
std::shared_ptr<asio::ssl::context> makeServerTlsContext(const TlsConfig& tls);

// "TLSv1.3 TLS_AES_256_GCM_SHA384" for an established connection (for logs).
std::string describeTls(const SSL* ssl);

}  // namespace relayguard::net
