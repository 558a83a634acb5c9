// dkim_signer: signing with libopendkim (see dkim_signer.hpp).
#include "signing/dkim_signer.hpp"

#include <cstring>
#include <stdexcept>

#include "signing/opendkim.hpp"
#include "signing/preparsed_key.hpp"

namespace relayguard::signing {

const std::vector<std::string> kSignedHeaders = {
    "from",
    "sender",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "to",
    "cc",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-id",
    "content-description",
    "content-disposition",
    "content-language",
    "in-reply-to",
    "references",
    "resent-date",
    "resent-from",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-message-id",
    "list-id",
    "list-help",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "list-subscribe",
    "list-post",
    "list-owner",
    "list-archive",
    "autocrypt",
    "openpgp",
};

// Fields a receiver displays or uses to decide what the message is: one extra h= entry each,
// so adding one (a second From:, a Subject: when there was none) breaks the signature.
const std::vector<std::string> kOversignedHeaders = {
    "from",
    "reply-to",
    "subject",
    "date",
    "to",
    "cc",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-unsubscribe",
    "list-unsubscribe-post",
};

namespace {

// libopendkim wants NULL-terminated arrays of C strings that stay valid while the library
// handle lives (it copies them, but the arrays are kept here anyway for clarity).
std::vector<const char*> cArray(const std::vector<std::string>& names) {
  std::vector<const char*> out;
  for (const auto& n : names) {
    out.push_back(n.c_str());
  }
  out.push_back(nullptr);
  return out;
}

dkim_canon_t canon(Canonicalization c) {
  return c == Canonicalization::kRelaxed ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
}

[[noreturn]] void fail(const char* what, DKIM_STAT status, DKIM* dkim) {
  std::string text = std::string("DKIM signing failed: ") + what + ": " + dkim_getresultstr(status);
  const char* detail = dkim != nullptr ? dkim_geterror(dkim) : nullptr;
  if (detail != nullptr && *detail != '\0') {
    text += " (";
    text += detail;
    text += ")";
  }
  throw std::runtime_error(text);
}

struct DkimFree {
  void operator()(DKIM* d) const noexcept { dkim_free(d); }
};

}  // namespace

std::optional<std::pair<Canonicalization, Canonicalization>> parseCanonicalization(
    std::string_view text) {
  auto one = [](std::string_view s) -> std::optional<Canonicalization> {
    if (s == "relaxed") {
      return Canonicalization::kRelaxed;
    }
    if (s == "simple") {
      return Canonicalization::kSimple;
    }
    return std::nullopt;
  };
  const auto slash = text.find('/');
  const auto header = one(text.substr(0, slash));
  const auto body =
      slash == std::string_view::npos ? Canonicalization::kSimple : one(text.substr(slash + 1));
  if (!header || !body) {
    return std::nullopt;
  }
  return std::make_pair(*header, *body);
}

struct DkimSigner::Library {
  DKIM_LIB* lib = nullptr;
  std::vector<const char*> sign_headers;
  std::vector<const char*> oversign_headers;
  ~Library() {
    if (lib != nullptr) {
      dkim_close(lib);
    }
  }
};

DkimSigner::DkimSigner(SignerOptions options)
    : options_(options), lib_(std::make_unique<Library>()) {
  lib_->lib = dkim_init(nullptr, nullptr);
  if (lib_->lib == nullptr) {
    throw std::runtime_error("libopendkim: dkim_init failed");
  }
  if (!dkim_libfeature(lib_->lib, DKIM_FEATURE_OVERSIGN) ||
      !dkim_libfeature(lib_->lib, DKIM_FEATURE_SHA256)) {
    throw std::runtime_error("libopendkim lacks SHA-256 or over-signing support");
  }
  lib_->sign_headers = cArray(kSignedHeaders);
  lib_->oversign_headers = cArray(kOversignedHeaders);
  auto set = [this](int opt, void* data, std::size_t len, const char* what) {
    const DKIM_STAT st = dkim_options(lib_->lib, DKIM_OP_SETOPT, opt, data, len);
    if (st != DKIM_STAT_OK) {
      throw std::runtime_error(std::string("libopendkim: cannot set ") + what + ": " +
                               dkim_getresultstr(st));
    }
  };
  set(DKIM_OPTS_SIGNHDRS, lib_->sign_headers.data(), sizeof(char**), "the signed headers");
  set(DKIM_OPTS_OVERSIGNHDRS, lib_->oversign_headers.data(), sizeof(char**),
      "the over-signed headers");
  unsigned int flags = DKIM_LIBFLAGS_NONE;  // in particular not DKIM_LIBFLAGS_SIGNLEN: no l=
  set(DKIM_OPTS_FLAGS, &flags, sizeof flags, "the flags");
  unsigned int min_bits = kMinRsaBits;
  set(DKIM_OPTS_MINKEYBITS, &min_bits, sizeof min_bits, "the minimum key size");
  if (options_.expiry.count() > 0) {
    std::uint64_t ttl = static_cast<std::uint64_t>(options_.expiry.count());
    set(DKIM_OPTS_SIGNATURETTL, &ttl, sizeof ttl, "the signature lifetime");
  }
  if (options_.fixed_time != 0) {
    std::uint64_t when = options_.fixed_time;
    set(DKIM_OPTS_FIXEDTIME, &when, sizeof when, "the signing time");
  }
}

DkimSigner::~DkimSigner() = default;

std::string DkimSigner::sign(const PagedBytes& paged, const DkimKey& key) const {
  const std::string_view message = paged.data;
  const bool ed25519 = key.algorithm() == DkimAlgorithm::kEd25519Sha256;
  DKIM_STAT status = DKIM_STAT_OK;
  // dkim_sign copies the key text, selector and domain.
  std::unique_ptr<DKIM, DkimFree> dkim(dkim_sign(
      lib_->lib, reinterpret_cast<const unsigned char*>("relayguard"), nullptr,
      reinterpret_cast<dkim_sigkey_t>(const_cast<char*>(key.pem().c_str())),
      reinterpret_cast<const unsigned char*>(key.selector().c_str()),
      reinterpret_cast<const unsigned char*>(key.domain().c_str()), canon(options_.header),
      canon(options_.body), ed25519 ? DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256, -1, &status));
  if (!dkim) {
    fail("dkim_sign", status, nullptr);
  }
  {
    OfferedKey offer(key.pkey());
    status = dkim_privkey_load(dkim.get());
  }
  if (status != DKIM_STAT_OK) {
    fail("loading the key", status, dkim.get());
  }
  // dkim_chunk splits header fields and body itself, across calls too; it only reads the buffer.
  paged.forEachWindow(message, [&](std::string_view window) {
    auto* data = reinterpret_cast<unsigned char*>(const_cast<char*>(window.data()));
    status = dkim_chunk(dkim.get(), data, window.size());
    return status == DKIM_STAT_OK;
  });
  if (status != DKIM_STAT_OK) {
    fail("reading the message", status, dkim.get());
  }
  if (!message.empty() && !message.ends_with("\r\n")) {
    // A last line without CRLF: both canonicalizations add one (RFC 6376 3.4.3, 3.4.4), but
    // libopendkim refuses the input, so it gets the CRLF here. The signed form is the same.
    static const std::string crlf = "\r\n";
    status = dkim_chunk(
        dkim.get(), reinterpret_cast<unsigned char*>(const_cast<char*>(crlf.data())), crlf.size());
    if (status != DKIM_STAT_OK) {
      fail("reading the message", status, dkim.get());
    }
  }
  status = dkim_chunk(dkim.get(), nullptr, 0);
  if (status != DKIM_STAT_OK) {
    fail("reading the message", status, dkim.get());
  }
  const bool simple_header = options_.header == Canonicalization::kSimple;
  if (simple_header) {
    // Simple header canonicalization hashes the signature field byte for byte. libopendkim
    // folds the field it hashes (b= empty) and the one it returns (b= filled) differently when
    // the signature is short (ed25519), so it is asked for one line and only the b= value, which
    // verifiers take apart from the hash, is folded below.
    status = dkim_set_margin(dkim.get(), 0);
    if (status != DKIM_STAT_OK) {
      fail("setting the margin", status, dkim.get());
    }
  }
  status = dkim_eom(dkim.get(), nullptr);
  if (status != DKIM_STAT_OK) {
    fail("signing", status, dkim.get());
  }
  unsigned char* header = nullptr;
  std::size_t len = 0;
  status = dkim_getsighdr_d(dkim.get(), std::strlen(DKIM_SIGNHEADER) + 2, &header, &len);
  if (status != DKIM_STAT_OK) {
    fail("writing the signature field", status, dkim.get());
  }
  // On the wire every fold is CRLF + white space: a bare LF gets its CR.
  std::string value;
  value.reserve(len + 16);
  for (std::size_t i = 0; i < len; ++i) {
    const char c = static_cast<char>(header[i]);
    if (c == '\n' && (i == 0 || header[i - 1] != '\r')) {
      value += '\r';
    }
    value += c;
  }
  if (simple_header) {
    const auto b = value.rfind("; b=");
    if (b == std::string::npos) {
      throw std::runtime_error("DKIM signing failed: no b= tag in the signature field");
    }
    std::string folded = value.substr(0, b + 4);
    constexpr std::size_t kChunk = 64;
    for (std::size_t i = b + 4; i < value.size(); i += kChunk) {
      folded += "\r\n\t";
      folded += value.substr(i, kChunk);
    }
    return folded;
  }
  return value;
}

}  // namespace relayguard::signing
