// dkim_signer: makes DKIM-Signature fields with libopendkim (RFC 6376; ed25519-sha256 per
// RFC 8463). libopendkim canonicalizes, hashes, picks the header fields to sign and writes the
// signature field; the key it signs with is the one parsed at load time (preparsed_key.hpp).
//
// What every signature has: the whole body (never l=), a t= timestamp, x= when an expiry is set,
// the header fields a careful signer covers (kSignedHeaders: From, To, Cc, Subject, Date,
// Message-ID, Reply-To, the MIME and list headers, ...), and kOversignedHeaders named once more
// than they occur, so that none of them can be added after signing without breaking it.
//
// Folding: with relaxed header canonicalization (the default) libopendkim folds the field at 75
// columns; with simple, the field is one line up to b=, whose value alone is folded (simple
// hashes the field byte for byte, and a fold before b= could differ from the hashed form).
//
// A DkimSigner is immutable and may sign from several threads at once (one libopendkim library
// handle, one message handle per signature). sign() is CPU work: call it on the blocking pool.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/mapped_file.hpp"
#include "signing/dkim_key.hpp"

namespace relayguard::signing {

enum class Canonicalization { kSimple, kRelaxed };

struct SignerOptions {
  Canonicalization header = Canonicalization::kRelaxed;
  Canonicalization body = Canonicalization::kRelaxed;
  std::chrono::seconds expiry{0};  // x= is t= plus this; 0: no x=
  std::uint64_t fixed_time = 0;    // t= for known-answer tests; 0: the current time
};

// "relaxed/relaxed", "simple/relaxed", "relaxed" (= relaxed/simple, as RFC 6376 reads a lone
// value) ...; nullopt for anything else.
std::optional<std::pair<Canonicalization, Canonicalization>> parseCanonicalization(
    std::string_view text);

extern const std::vector<std::string> kSignedHeaders;
extern const std::vector<std::string> kOversignedHeaders;

class DkimSigner {
 public:
  explicit DkimSigner(SignerOptions options = {});
  ~DkimSigner();
  DkimSigner(const DkimSigner&) = delete;
  DkimSigner& operator=(const DkimSigner&) = delete;

  // Signs `message` (the raw message with CRLF line ends) with `key` for the key's domain and
  // selector. Returns the field's value, folded with CRLF + TAB, so that
  // "DKIM-Signature: " + value + "\r\n" is the field to put on top of the message.
  // Throws std::runtime_error when libopendkim cannot sign (the text has its reason).
  // A message in a mapped file is read a window at a time, each given back once hashed.
  std::string sign(const PagedBytes& message, const DkimKey& key) const;

 private:
  struct Library;
  SignerOptions options_;
  std::unique_ptr<Library> lib_;
};

}  // namespace relayguard::signing
