// dkim_key: loading and checking DKIM private keys (see dkim_key.hpp).
#include "signing/dkim_key.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util/base64.hpp"

namespace relayguard::signing {
namespace {

constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;

struct BioFree {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};

// Reads a key file after checking what it is and who may read it; never follows the file
// beyond what open() saw (fstat on the opened descriptor).
std::string readKeyFile(const std::filesystem::path& file) {
  const std::string name = file.string();
  const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    throw KeyError("private key '" + name +
                   "': " + (err == ENOENT ? std::string("no such file") : std::strerror(err)));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    throw KeyError("private key '" + name + "': " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    throw KeyError("private key '" + name + "' is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw KeyError("private key '" + name + "' has mode " + mode +
                   ": the group and others must have no access (chmod 600)");
  }
  if (st.st_size <= 0 || static_cast<std::size_t>(st.st_size) > kMaxKeyFileBytes) {
    throw KeyError("private key '" + name + "' is " +
                   (st.st_size <= 0 ? std::string("empty") : "larger than 64K"));
  }
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      throw KeyError("private key '" + name +
                     "': cannot read: " + (n < 0 ? std::strerror(errno) : "file shrank"));
    }
    got += static_cast<std::size_t>(n);
  }
  return text;
}

}  // namespace

std::string_view toString(DkimAlgorithm a) {
  return a == DkimAlgorithm::kRsaSha256 ? "rsa-sha256" : "ed25519-sha256";
}

std::optional<DkimAlgorithm> parseAlgorithm(std::string_view name) {
  if (name == "rsa-sha256") {
    return DkimAlgorithm::kRsaSha256;
  }
  if (name == "ed25519-sha256") {
    return DkimAlgorithm::kEd25519Sha256;
  }
  return std::nullopt;
}

bool isDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  std::size_t start = 0;
  while (start <= name.size()) {
    const auto dot = name.find('.', start);
    const auto label = name.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (const char c : label) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_';
      if (!ok) {
        return false;
      }
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    start = dot + 1;
  }
  return false;
}

std::shared_ptr<const DkimKey> DkimKey::load(std::string domain, std::string selector,
                                             DkimAlgorithm algorithm,
                                             const std::filesystem::path& file) {
  std::string pem = readKeyFile(file);
  try {
    return fromPem(std::move(domain), std::move(selector), algorithm, std::move(pem));
  } catch (const KeyError& e) {
    throw KeyError("private key '" + file.string() + "': " + e.what());
  }
}

std::shared_ptr<const DkimKey> DkimKey::fromPem(std::string domain, std::string selector,
                                                DkimAlgorithm algorithm, std::string pem) {
  if (pem.rfind("-----", 0) != 0) {
    throw KeyError("not a PEM private key (expected a '-----BEGIN ... PRIVATE KEY-----' line)");
  }
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    throw KeyError("out of memory");
  }
  // A passphrase-protected key is refused: the callback supplies no passphrase.
  auto no_passphrase = [](char*, int, int, void*) -> int { return -1; };
  EvpPkeyPtr pkey(
      PEM_read_bio_PrivateKey_ex(bio.get(), nullptr, no_passphrase, nullptr, nullptr, nullptr));
  if (!pkey) {
    throw KeyError("does not parse as a PEM private key (or is passphrase-protected)");
  }
  auto key = std::shared_ptr<DkimKey>(new DkimKey());
  const int type = EVP_PKEY_get_base_id(pkey.get());
  if (algorithm == DkimAlgorithm::kRsaSha256) {
    if (type != EVP_PKEY_RSA) {
      throw KeyError("is not an RSA key, as algorithm rsa-sha256 needs");
    }
    key->bits_ = static_cast<unsigned>(EVP_PKEY_get_bits(pkey.get()));
    if (key->bits_ < kMinRsaBits) {
      throw KeyError("RSA key of " + std::to_string(key->bits_) + " bits: at least " +
                     std::to_string(kMinRsaBits) + " are required");
    }
    if (key->bits_ > kMaxRsaBits) {
      throw KeyError("RSA key of " + std::to_string(key->bits_) + " bits: verifiers need not " +
                     "support more than " + std::to_string(kMaxRsaBits));
    }
  } else {
    if (type != EVP_PKEY_ED25519) {
      throw KeyError("is not an Ed25519 key, as algorithm ed25519-sha256 needs");
    }
    key->bits_ = static_cast<unsigned>(EVP_PKEY_get_bits(pkey.get()));
  }
  key->domain_ = std::move(domain);
  key->selector_ = std::move(selector);
  key->algorithm_ = algorithm;
  key->pkey_ = std::move(pkey);
  key->pem_ = std::move(pem);
  return key;
}

std::string DkimKey::dnsRecord() const {
  return dnsRecordFor(pkey_.get(), algorithm_);
}

std::string dnsRecordFor(EVP_PKEY* key, DkimAlgorithm algorithm) {
  if (algorithm == DkimAlgorithm::kEd25519Sha256) {
    unsigned char raw[32];
    std::size_t len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1 || len != sizeof raw) {
      throw KeyError("cannot extract the Ed25519 public key");
    }
    return "v=DKIM1; k=ed25519; p=" + encodeBase64({reinterpret_cast<const char*>(raw), len});
  }
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  if (len <= 0) {
    throw KeyError("cannot encode the RSA public key");
  }
  std::string p = encodeBase64({reinterpret_cast<const char*>(der), static_cast<std::size_t>(len)});
  OPENSSL_free(der);
  return "v=DKIM1; k=rsa; p=" + p;
}

std::vector<std::string> txtStrings(std::string_view record) {
  std::vector<std::string> out;
  for (std::size_t pos = 0; pos < record.size(); pos += 255) {
    out.emplace_back(record.substr(pos, 255));
  }
  return out;
}

}  // namespace relayguard::signing
