// dkim_sign_bench: what one DKIM signature costs, per algorithm, three ways:
//   libopendkim as-is  dkim_sign() given the PEM text, parsed again for every message (what a
//                      plain libopendkim integration does)
//   relayguard         signing::DkimSigner: libopendkim canonicalizes and writes the field, the
//                      key is the one parsed at load time (signing/preparsed_key.hpp)
//   raw OpenSSL        SHA-256 of the body, then EVP_DigestSign over the header block with the
//                      parsed key: the cryptography alone, the floor for the two above
// Usage: dkim_sign_bench [iterations] [body bytes] [canonicalization] (default 400, 3000,
// relaxed/relaxed; bench/compare.py signs with relaxed/simple, opendkim's default). Prints
// microseconds per signature. The body is text lines with spaces, so relaxed body
// canonicalization has work to do (libopendkim's costs about 5 ns a byte, simple about 1).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <openssl/evp.h>

#include "signing/dkim_keygen.hpp"
#include "signing/dkim_signer.hpp"
#include "signing/opendkim.hpp"
#include "signing/preparsed_key.hpp"

namespace {

using relayguard::signing::Canonicalization;
using relayguard::signing::DkimAlgorithm;
using relayguard::signing::DkimKey;
using relayguard::signing::DkimSigner;
using Clock = std::chrono::steady_clock;

std::string sampleMessage(std::size_t body_bytes) {
  std::string m =
      "From: App <app@example.test>\r\nTo: Someone <someone@example.org>\r\n"
      "Subject: Your monthly statement\r\nDate: Mon, 24 Nov 2025 10:00:00 +0000\r\n"
      "Message-ID: <bench.1@example.test>\r\nMIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n\r\n";
  const std::size_t header_bytes = m.size();
  for (int i = 0; m.size() - header_bytes < body_bytes; ++i) {
    m += "Line " + std::to_string(i) +
         " of a typical transactional message body, with some text in it.\r\n";
  }
  return m;
}

template <class F>
double microsPerCall(int n, F&& f) {
  f();  // warm up
  const auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    f();
  }
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / n;
}

// libopendkim used directly, the key given as PEM text on every message.
dkim_canon_t canon(Canonicalization c) {
  return c == Canonicalization::kSimple ? DKIM_CANON_SIMPLE : DKIM_CANON_RELAXED;
}

void signAsIs(DKIM_LIB* lib, const DkimKey& key, const std::string& message,
              const relayguard::signing::SignerOptions& options) {
  DKIM_STAT st = DKIM_STAT_OK;
  DKIM* d = dkim_sign(
      lib, reinterpret_cast<const unsigned char*>("bench"), nullptr,
      reinterpret_cast<dkim_sigkey_t>(const_cast<char*>(key.pem().c_str())),
      reinterpret_cast<const unsigned char*>("s1"),
      reinterpret_cast<const unsigned char*>("example.test"), canon(options.header),
      canon(options.body),
      key.algorithm() == DkimAlgorithm::kRsaSha256 ? DKIM_SIGN_RSASHA256 : DKIM_SIGN_ED25519SHA256,
      -1, &st);
  auto* data = reinterpret_cast<unsigned char*>(const_cast<char*>(message.data()));
  dkim_chunk(d, data, message.size());
  dkim_chunk(d, nullptr, 0);
  st = dkim_eom(d, nullptr);
  unsigned char* hdr = nullptr;
  std::size_t len = 0;
  if (st != DKIM_STAT_OK ||
      dkim_getsighdr_d(d, std::strlen(DKIM_SIGNHEADER) + 2, &hdr, &len) != DKIM_STAT_OK) {
    std::fprintf(stderr, "libopendkim failed: %s\n", dkim_getresultstr(st));
    std::exit(1);
  }
  dkim_free(d);
}

// The cryptography alone: body hash, then a signature over header text of the usual size.
void signRaw(const DkimKey& key, const std::string& message) {
  const auto split = message.find("\r\n\r\n");
  unsigned char bh[EVP_MAX_MD_SIZE];
  unsigned int bhlen = 0;
  EVP_Digest(message.data() + split + 4, message.size() - split - 4, bh, &bhlen, EVP_sha256(),
             nullptr);
  std::string headers = message.substr(0, split + 2);
  headers.append(
      "dkim-signature:v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.test; s=s1; "
      "t=1764000000; bh=");
  headers.append(reinterpret_cast<const char*>(bh), bhlen);
  unsigned char sig[1024];
  std::size_t siglen = sizeof sig;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ed = key.algorithm() == DkimAlgorithm::kEd25519Sha256;
  if (ed) {
    // RFC 8463: Ed25519 over the SHA-256 of the header block.
    unsigned char hh[EVP_MAX_MD_SIZE];
    unsigned int hhlen = 0;
    EVP_Digest(headers.data(), headers.size(), hh, &hhlen, EVP_sha256(), nullptr);
    EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key.pkey());
    EVP_DigestSign(ctx, sig, &siglen, hh, hhlen);
  } else {
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key.pkey());
    EVP_DigestSign(ctx, sig, &siglen, reinterpret_cast<const unsigned char*>(headers.data()),
                   headers.size());
  }
  EVP_MD_CTX_free(ctx);
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 400;
  const std::string message = sampleMessage(argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 3000);
  const char* canon_text = argc > 3 ? argv[3] : "relaxed/relaxed";
  const auto canons = relayguard::signing::parseCanonicalization(canon_text);
  if (n <= 0 || !canons) {
    std::fprintf(stderr, "usage: dkim_sign_bench [iterations] [body bytes] [canonicalization]\n");
    return 2;
  }
  relayguard::signing::SignerOptions options;
  options.header = canons->first;
  options.body = canons->second;
  DKIM_LIB* lib = dkim_init(nullptr, nullptr);
  DkimSigner signer(options);
  std::printf(
      "DKIM signature (c=%s) of a %zu-byte message, microseconds per signature (%d each):\n",
      canon_text, message.size(), n);
  std::printf("%-16s %20s %14s %14s\n", "algorithm", "libopendkim as-is", "relayguard",
              "raw OpenSSL");
  for (const auto alg : {DkimAlgorithm::kRsaSha256, DkimAlgorithm::kEd25519Sha256}) {
    const auto pkey = relayguard::signing::generateKey(alg);
    const auto key =
        DkimKey::fromPem("example.test", "s1", alg, relayguard::signing::privateKeyPem(pkey.get()));
    const double as_is = microsPerCall(n, [&] { signAsIs(lib, *key, message, options); });
    const auto taken_before = relayguard::signing::takenCount();
    const double ours = microsPerCall(n, [&] { (void)signer.sign(message, *key); });
    const bool fast = relayguard::signing::takenCount() - taken_before == std::uint64_t(n) + 1;
    const double raw = microsPerCall(n, [&] { signRaw(*key, message); });
    std::printf("%-16s %20.0f %14.0f %14.0f%s\n",
                std::string(relayguard::signing::toString(alg)).c_str(), as_is, ours, raw,
                fast ? "" : "   (pre-parsed key NOT used)");
  }
  dkim_close(lib);
  return 0;
}
