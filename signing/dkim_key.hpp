// dkim_key: a DKIM private key, loaded and checked once (when the rules directory loads) and
// then shared, read-only, by every signature made with it.
//
// load() refuses, with a message naming the file: a missing or unreadable file, a file that is
// not a regular file, a key that the group or others may read or write (mode & 077), a file
// that is not a PEM private key, a key of the wrong type for the algorithm, and an RSA key under
// 2048 bits. The key text never appears in a message.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/evp.h>

namespace relayguard::signing {

enum class DkimAlgorithm { kRsaSha256, kEd25519Sha256 };

std::string_view toString(DkimAlgorithm a);  // "rsa-sha256" | "ed25519-sha256"
std::optional<DkimAlgorithm> parseAlgorithm(std::string_view name);

inline constexpr unsigned kMinRsaBits = 2048;
inline constexpr unsigned kMaxRsaBits = 4096;  // RFC 8301: what verifiers must support

// A key that cannot be used; the text says why (and names the file).
class KeyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct EvpPkeyFree {
  void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;

// True for a DNS name such as "example.test" or a selector such as "s1" / "2024-01.mail":
// labels of letters, digits, '-' and '_', 1 to 63 characters, not starting or ending with '-'.
bool isDnsName(std::string_view name);

class DkimKey {
 public:
  // Reads and checks the key file (see the top of this file); throws KeyError.
  static std::shared_ptr<const DkimKey> load(std::string domain, std::string selector,
                                             DkimAlgorithm algorithm,
                                             const std::filesystem::path& file);
  // The same checks on a key already in memory (PEM text), for keys that do not come from a file.
  static std::shared_ptr<const DkimKey> fromPem(std::string domain, std::string selector,
                                                DkimAlgorithm algorithm, std::string pem);

  const std::string& domain() const { return domain_; }
  const std::string& selector() const { return selector_; }
  DkimAlgorithm algorithm() const { return algorithm_; }
  unsigned bits() const { return bits_; }
  // The parsed key, shared by all signatures (OpenSSL keys may be used from several threads).
  EVP_PKEY* pkey() const { return pkey_.get(); }
  // The PEM text libopendkim is given (it parses it only when the pre-parsed key is not taken).
  const std::string& pem() const { return pem_; }
  // The TXT record to publish at selector._domainkey.domain: "v=DKIM1; k=rsa; p=...".
  std::string dnsRecord() const;

 private:
  DkimKey() = default;
  std::string domain_;
  std::string selector_;
  DkimAlgorithm algorithm_ = DkimAlgorithm::kRsaSha256;
  unsigned bits_ = 0;
  EvpPkeyPtr pkey_;
  std::string pem_;
};

// The TXT record for a key: "v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>" or
// "v=DKIM1; k=ed25519; p=<base64 of the 32-byte public key>" (RFC 8463).
std::string dnsRecordFor(EVP_PKEY* key, DkimAlgorithm algorithm);

// A record split into the <= 255-byte character-strings one TXT record is made of.
std::vector<std::string> txtStrings(std::string_view record);

}  // namespace relayguard::signing
