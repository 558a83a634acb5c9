// transfer_decoder: Content-Transfer-Encoding decoding and charset conversion for MimeView
// (see transfer_decoder.hpp).
#include "core/message/transfer_decoder.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <utility>

#include <gmime/gmime.h>
#include <iconv.h>

#include "core/message/gmime_ptr.hpp"
#include "core/util/durable_file.hpp"
#include "core/util/strings.hpp"

namespace relayguard {
namespace {

constexpr std::size_t kChunk = 64 * 1024;

bool isBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

GMimeContentEncoding toGMime(TransferEncoding encoding) {
  switch (encoding) {
    case TransferEncoding::base64:
      return GMIME_CONTENT_ENCODING_BASE64;
    case TransferEncoding::quoted_printable:
      return GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;
    case TransferEncoding::uuencode:
      return GMIME_CONTENT_ENCODING_UUENCODE;
    case TransferEncoding::identity:
      break;
  }
  return GMIME_CONTENT_ENCODING_BINARY;
}

// Where decoded bytes go: a string, or a file with the string as its write buffer (flushed each
// time it passes kFlushAt). size() counts both.
class Output {
 public:
  static constexpr std::size_t kFlushAt = 256 * 1024;

  Output(std::string& text, int fd) : text_(text), fd_(fd) {}

  std::string& text() { return text_; }
  std::uint64_t size() const { return flushed_ + text_.size(); }
  std::uint64_t flushed() const { return flushed_; }
  int error() const { return error_; }
  // Room for `bytes` more (a file needs only its buffer).
  void reserve(std::uint64_t bytes) {
    const std::uint64_t want = fd_ >= 0 ? std::min<std::uint64_t>(bytes, 2 * kFlushAt) : bytes;
    text_.reserve(text_.size() + static_cast<std::size_t>(want));
  }
  // Cuts the output to `total` bytes (never below what was flushed: flushes follow the check).
  void truncate(std::uint64_t total) {
    text_.resize(static_cast<std::size_t>(std::max(total, flushed_) - flushed_));
  }
  void flush(bool all = false) {
    if (fd_ < 0 || error_ != 0 || (!all && text_.size() < kFlushAt)) {
      return;
    }
    error_ = writeAll(fd_, text_);
    flushed_ += text_.size();
    text_.clear();
  }

 private:
  std::string& text_;
  int fd_;
  std::uint64_t flushed_ = 0;
  int error_ = 0;
};

// Runs `state` over `in` in chunks, appending to `out` until it holds `limit` bytes, giving
// back the pages of `source` it has read. Returns false when the limit cut the output short.
bool decodeRun(GMimeEncoding& state, std::string_view in, std::uint64_t limit, Output& output,
               const PagedBytes& source) {
  std::string& out = output.text();
  for (std::size_t pos = 0; pos < in.size(); pos += kChunk) {
    const std::size_t len = std::min(kChunk, in.size() - pos);
    if (pos % PagedBytes::kWindow == 0 && pos > 0) {
      source.release(in.substr(pos - PagedBytes::kWindow, PagedBytes::kWindow));
    }
    const std::size_t old = out.size();
    out.resize(old + g_mime_encoding_outlen(&state, len));
    const std::size_t produced =
        g_mime_encoding_step(&state, in.data() + pos, len, out.data() + old);
    out.resize(old + produced);
    if (output.size() >= limit) {
      const bool exact = output.size() == limit && pos + len >= in.size();
      output.truncate(limit);
      return exact;
    }
    output.flush();
  }
  return true;
}

// Base64 with padding in the middle: every run that ends in '=' padding is decoded as a
// stream of its own.
bool decodeBase64Segments(std::string_view in, std::uint64_t limit, Output& out) {
  std::size_t start = 0;
  while (start < in.size()) {
    std::size_t end = in.find('=', start);
    if (end == std::string_view::npos) {
      end = in.size();
    } else {
      while (end < in.size() && (in[end] == '=' || in[end] == '\r' || in[end] == '\n' ||
                                 in[end] == ' ' || in[end] == '\t')) {
        ++end;
      }
    }
    GMimeEncoding state;
    g_mime_encoding_init_decode(&state, GMIME_CONTENT_ENCODING_BASE64);
    if (!decodeRun(state, in.substr(start, end - start), limit, out, {})) {
      return false;
    }
    start = end;
  }
  return true;
}

// Finds a uuencode "begin <mode> <name>" line; returns the offset just past it (npos if none).
std::size_t findUuBegin(std::string_view in, std::string& name) {
  std::size_t line = 0;
  while (line < in.size()) {
    std::size_t eol = in.find('\n', line);
    if (eol == std::string_view::npos) {
      eol = in.size();
    }
    std::string_view text = in.substr(line, eol - line);
    if (text.ends_with('\r')) {
      text.remove_suffix(1);
    }
    if (text.starts_with("begin ")) {
      const std::string_view rest = trim(text.substr(6));
      const std::size_t space = rest.find(' ');
      if (space != std::string_view::npos) {
        name = std::string(trim(rest.substr(space + 1)));
      }
      return std::min(eol + 1, in.size());
    }
    line = eol + 1;
  }
  return std::string_view::npos;
}

}  // namespace

bool hasBase64PaddingInMiddle(std::string_view encoded, const PagedBytes& source) {
  // Padding is normally the last thing in the part: find() (memchr) skips to it.
  bool padded = false;
  bool middle = false;
  source.forEachWindow(encoded, [&](std::string_view window) {
    std::size_t from = 0;
    if (!padded) {
      from = window.find('=');
      if (from == std::string_view::npos) {
        return true;
      }
      padded = true;
    }
    middle =
        std::any_of(window.begin() + static_cast<std::ptrdiff_t>(from), window.end(), isBase64Char);
    return !middle;
  });
  return middle;
}

namespace {

DecodeResult decodeAll(std::string_view encoded, TransferEncoding encoding, std::uint64_t max_bytes,
                       Output& out, const PagedBytes& source) {
  DecodeResult result;
  const std::uint64_t limit = out.size() + max_bytes;
  if (encoding == TransferEncoding::identity) {
    const std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(encoded.size(), max_bytes));
    source.forEachWindow(encoded.substr(0, take), [&out](std::string_view window) {
      out.text().append(window);
      out.flush();
      return true;
    });
    result.truncated = take < encoded.size();
    return result;
  }
  gmime::ensureGMimeInitialized();
  GMimeEncoding state;
  g_mime_encoding_init_decode(&state, toGMime(encoding));
  std::string_view input = encoded;
  if (encoding == TransferEncoding::base64) {
    out.reserve(std::min<std::uint64_t>(encoded.size() / 4 * 3 + 3, max_bytes));
    if (hasBase64PaddingInMiddle(encoded, source)) {
      result.malformed_base64 = true;
      result.truncated = !decodeBase64Segments(encoded, limit, out);
      return result;
    }
  } else if (encoding == TransferEncoding::uuencode) {
    const std::size_t body = findUuBegin(encoded, result.uu_filename);
    if (body != std::string_view::npos) {
      input = encoded.substr(body);
      state.state |= GMIME_UUDECODE_STATE_BEGIN;
    }
  } else {
    out.reserve(std::min<std::uint64_t>(encoded.size(), max_bytes));
  }
  result.truncated = !decodeRun(state, input, limit, out, source);
  return result;
}

}  // namespace

DecodeResult decodeTransfer(std::string_view encoded, TransferEncoding encoding,
                            std::uint64_t max_bytes, std::string& out, const PagedBytes& source) {
  Output output(out, -1);
  DecodeResult result = decodeAll(encoded, encoding, max_bytes, output, source);
  source.release(encoded);  // whatever a pass read whole (malformed base64, a uuencode search)
  return result;
}

DecodeResult decodeTransferToFile(std::string_view encoded, TransferEncoding encoding,
                                  std::uint64_t max_bytes, int fd, const PagedBytes& source) {
  std::string buffer;
  Output output(buffer, fd);
  DecodeResult result = decodeAll(encoded, encoding, max_bytes, output, source);
  source.release(encoded);
  output.flush(true);
  result.file_bytes = output.flushed();
  result.file_error = output.error();
  return result;
}

bool isUtf8Charset(std::string_view charset) {
  return charset.empty() || charset == "utf-8" || charset == "utf8" || charset == "us-ascii" ||
         charset == "ascii";
}

bool convertToUtf8(std::string& text, std::string_view charset) {
  const std::string name = toLower(trim(charset));
  if (isUtf8Charset(name)) {
    return true;
  }
  gmime::ensureGMimeInitialized();
  iconv_t cd = g_mime_iconv_open("UTF-8", name.c_str());
  if (cd == reinterpret_cast<iconv_t>(static_cast<std::intptr_t>(-1))) {
    return false;
  }
  constexpr std::size_t kFailed = static_cast<std::size_t>(-1);
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  ::iconv(cd, nullptr, nullptr, nullptr, nullptr);
  std::string converted(text.size() + text.size() / 2 + 16, '\0');
  std::size_t used = 0;
  auto room = [&](std::size_t extra) {
    if (converted.size() - used < extra) {
      converted.resize(std::max(converted.size() * 2, used + extra));
    }
  };
  auto replacement = [&] {
    room(kReplacement.size());
    converted.replace(used, kReplacement.size(), kReplacement);
    used += kReplacement.size();
  };
  char* in = text.data();
  std::size_t in_left = text.size();
  while (in_left > 0) {
    char* out = converted.data() + used;
    std::size_t out_left = converted.size() - used;
    const std::size_t rc = ::iconv(cd, &in, &in_left, &out, &out_left);
    used = static_cast<std::size_t>(out - converted.data());
    if (rc != kFailed) {
      break;
    }
    if (errno == E2BIG) {
      room(in_left * 2 + 16);
    } else if (errno == EILSEQ) {
      replacement();
      ++in;
      --in_left;
    } else {  // EINVAL: an incomplete sequence ends the input
      replacement();
      break;
    }
  }
  while (true) {  // flush any shift state (stateful charsets such as ISO-2022-JP)
    char* out = converted.data() + used;
    std::size_t out_left = converted.size() - used;
    const std::size_t rc = ::iconv(cd, nullptr, nullptr, &out, &out_left);
    used = static_cast<std::size_t>(out - converted.data());
    if (rc != kFailed || errno != E2BIG) {
      break;
    }
    room(64);
  }
  g_mime_iconv_close(cd);
  converted.resize(used);
  text = std::move(converted);
  return true;
}

}  // namespace relayguard
