// dkim_keygen: new DKIM keys (`relayguard dkim keygen`): generates the key, writes it as a
// PKCS#8 PEM file that only its owner may read, and gives the DNS TXT record to publish.
#pragma once

#include <filesystem>
#include <string>

#include "signing/dkim_key.hpp"

namespace relayguard::signing {

// An RSA key of `bits` (kMinRsaBits..kMaxRsaBits) or an Ed25519 key; throws KeyError.
EvpPkeyPtr generateKey(DkimAlgorithm algorithm, unsigned bits = kMinRsaBits);

// The key as PKCS#8 PEM text (what writePrivateKey stores and DkimKey::fromPem reads).
std::string privateKeyPem(EVP_PKEY* key);

// Writes `key` to `file` with mode 0600, refusing to replace an existing file (or to follow a
// symbolic link there); the data is on disk (fsync) when this returns. Throws KeyError.
void writePrivateKey(EVP_PKEY* key, const std::filesystem::path& file);

// The zone-file line for the key's TXT record, with the record split into <= 255-byte strings:
//   s1._domainkey.example.test. IN TXT ( "v=DKIM1; k=rsa; p=MIIB..." "...." )
std::string zoneFileRecord(const std::string& selector, const std::string& domain,
                           const std::string& record);

}  // namespace relayguard::signing
