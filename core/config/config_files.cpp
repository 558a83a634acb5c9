// config_files: file-valued config keys (see config_files.hpp).
#include "core/config/config_files.hpp"

#include <cerrno>
#include <cstring>
#include <memory>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include "core/util/durable_file.hpp"

namespace relayguard {
namespace {

// True when text holds at least one PEM certificate OpenSSL can parse.
bool containsPemCertificate(const std::string& text) {
  const std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), &BIO_free);
  if (!bio) {
    return false;
  }
  X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  X509_free(cert);
  return cert != nullptr;
}

}  // namespace

std::filesystem::path resolveConfigPath(const std::filesystem::path& base, const std::string& p) {
  const std::filesystem::path path(p);
  return path.is_absolute() ? path : (base / path).lexically_normal();
}

std::string readSecretFile(const TomlReader& r, std::string_view key,
                           const std::filesystem::path& file) {
  const std::string shown = file.string();
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    r.fail(key, "cannot read " + shown + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    r.fail(key, shown + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    r.fail(key, shown + " is accessible by group or others (chmod 600 it)");
  }
  std::string secret;
  try {
    secret = readFile(file);
  } catch (const IoError& e) {
    r.fail(key, e.what());
  }
  // Like `user add`: one trailing newline is not part of the secret.
  if (secret.ends_with('\n')) {
    secret.pop_back();
    if (secret.ends_with('\r')) {
      secret.pop_back();
    }
  }
  if (secret.empty()) {
    r.fail(key, shown + " is empty");
  }
  // Never echo the content: only say what is wrong with it.
  if (secret.find_first_of(std::string_view("\0\r\n", 3)) != std::string::npos) {
    secret.clear();
    r.fail(key, shown + " must hold one line (the password)");
  }
  return secret;
}

void requirePemCertificates(const TomlReader& r, std::string_view key,
                            const std::filesystem::path& file) {
  std::string pem;
  try {
    pem = readFile(file);
  } catch (const IoError& e) {
    r.fail(key, e.what());
  }
  if (!containsPemCertificate(pem)) {
    r.fail(key, file.string() + " holds no PEM certificate");
  }
}

}  // namespace relayguard
