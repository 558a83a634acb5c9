// dkim_keygen: key generation and the TXT record (see dkim_keygen.hpp).
#include "signing/dkim_keygen.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sys/stat.h>
#include <unistd.h>

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
  const std::string pem = privateKeyPem(key);
  const std::string name = file.string();
  const int fd =
      ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, S_IRUSR | S_IWUSR);
  if (fd < 0) {
    const int err = errno;
    throw KeyError(
        "cannot create '" + name + "': " +
        (err == EEXIST ? std::string("it already exists (not replaced)") : std::strerror(err)));
  }
  bool ok = ::fchmod(fd, S_IRUSR | S_IWUSR) == 0;  // whatever the umask did
  std::size_t done = 0;
  while (ok && done < pem.size()) {
    const ssize_t n = ::write(fd, pem.data() + done, pem.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    ok = n > 0;
    done += ok ? static_cast<std::size_t>(n) : 0;
  }
  ok = ok && ::fsync(fd) == 0;
  const int err = errno;
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    ::unlink(name.c_str());
    throw KeyError("cannot write '" + name + "': " + std::strerror(err));
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
