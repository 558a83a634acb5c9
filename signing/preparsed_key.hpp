// preparsed_key: lets libopendkim sign with a key parsed once, at rules-load time, instead of
// parsing the PEM text again for every message.
//
// Why: libopendkim's dkim_privkey_load() reads the key with PEM_read_bio_PrivateKey() for each
// message. With OpenSSL 3 that costs a decoder search and a fresh RSA object whose first use
// also pays for Montgomery set-up and blinding: about three quarters of the time of an
// rsa-sha256 signature (bench/dkim_sign_bench.cpp has the figures). libopendkim has no API to
// hand it a parsed key.
//
// How: this library defines PEM_read_bio_PrivateKey itself. A program linking it exports that
// definition, which the dynamic linker then binds libopendkim's call to (the executable comes
// first in symbol lookup). The definition does exactly what OpenSSL's does
// (PEM_read_bio_PrivateKey_ex with the default library context) unless the calling thread has
// offered a key with an OfferedKey scope: then it returns that key (one more reference) without
// reading the BIO. The signer offers its key only around its own dkim_privkey_load() call, on
// its own thread, so no other caller can ever get it.
//
// If the override is not in effect (a program that does not link this file into the
// executable), libopendkim parses the PEM text as before: signatures stay correct, only slower.
// takenCount() lets tests and the benchmark check that the fast path is used.
#pragma once

#include <cstdint>

#include <openssl/evp.h>

namespace relayguard::signing {

class OfferedKey {
 public:
  explicit OfferedKey(EVP_PKEY* key);
  ~OfferedKey();
  OfferedKey(const OfferedKey&) = delete;
  OfferedKey& operator=(const OfferedKey&) = delete;
};

// How many times, in this process, an offered key was taken instead of parsing PEM text.
std::uint64_t takenCount();

}  // namespace relayguard::signing
