// dkim_keygen: key generation and the TXT record (see dkim_keygen.hpp).
#include "signing/dkim_keygen.hpp"

#include <cerrno>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sys/stat.h>

#include "core/util/durable_file.hpp"

namespace relayguard::signing {
namespace {

struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const noexcept { EVP_PKEY_CTX_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};

}  // namespace

std::string privateKeyPem(EVP_PKEY* key) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw KeyError("cannot encode the private key");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  std::string out(data, static_cast<std::size_t>(len));
  return out;
}

EvpPkeyPtr generateKey(DkimAlgorithm algorithm, unsigned bits) {
  const bool rsa = algorithm == DkimAlgorithm::kRsaSha256;
  if (rsa && (bits < kMinRsaBits || bits > kMaxRsaBits)) {
    throw KeyError("RSA keys must have " + std::to_string(kMinRsaBits) + " to " +
                   std::to_string(kMaxRsaBits) + " bits");
  }
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, rsa ? "RSA" : "ED25519", nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) {
    throw KeyError("cannot set up key generation");
  }
  if (rsa && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), static_cast<int>(bits)) != 1) {
    throw KeyError("cannot set the RSA key size");
  }
  EVP_PKEY* key = nullptr;
  if (EVP_PKEY_generate(ctx.get(), &key) != 1) {
    throw KeyError("key generation failed");
  }
  return EvpPkeyPtr(key);
}

void writePrivateKey(EVP_PKEY* key, const std::filesystem::path& file) {
  try {
    writeFileSynced(file, privateKeyPem(key), S_IRUSR | S_IWUSR, Existing::kNew);
    fsyncDirectory(file.has_parent_path() ? file.parent_path() : ".");
  } catch (const IoError& e) {
    if (e.error() == EEXIST) {
      throw KeyError("cannot create '" + file.string() + "': it already exists (not replaced)");
    }
    throw KeyError(e.what());
  }
}

std::string zoneFileRecord(const std::string& selector, const std::string& domain,
                           const std::string& record) {
  std::string out = selector + "._domainkey." + domain + ". IN TXT (";
  for (const auto& s : txtStrings(record)) {
    out += " \"" + s + "\"";
  }
  out += " )";
  return out;
}

}  // namespace relayguard::signing
