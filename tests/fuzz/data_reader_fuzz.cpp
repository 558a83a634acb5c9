// data_reader_fuzz: libFuzzer target for the DATA-phase reader. The first three input bytes
// choose the limits and the chunking (how the bytes arrive from the network); the rest is the
// stream after "DATA". The reader is checked against a simple reference: it must stop exactly
// after the first CRLF.CRLF (or a leading ".\r\n") and nowhere else, consume every byte offered
// before that, never take a byte after it, respect the size limit, flag bare CR / bare LF / NUL
// exactly when they occur, and give the same result however the stream is split.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/smtp/data_reader.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using relayguard::smtp::DataReader;
using relayguard::smtp::MessageBuffer;

constexpr std::size_t kNotFound = std::string_view::npos;

// Where a correct reader stops: just after the first "\r\n.\r\n", counting the CRLF that ended
// the DATA command line; kNotFound when the stream holds no end marker.
std::size_t referenceEnd(std::string_view stream) {
  const std::string framed = "\r\n" + std::string(stream);
  const auto pos = framed.find("\r\n.\r\n");
  return pos == kNotFound ? kNotFound : pos + 3;
}

struct Reference {
  std::string message;      // unstuffed, CRLF line ends
  std::size_t longest = 0;  // longest line as sent, without its CRLF
};

// The message a correct reader delivers for body bytes that hold only CRLF line ends.
Reference unstuff(std::string_view body) {
  Reference ref;
  std::size_t start = 0;
  while (start < body.size()) {
    auto end = body.find("\r\n", start);
    if (end == kNotFound) {
      end = body.size();
    }
    std::string_view line = body.substr(start, end - start);
    ref.longest = std::max(ref.longest, line.size());
    if (!line.empty() && line.front() == '.') {
      line.remove_prefix(1);
    }
    ref.message.append(line);
    if (end < body.size()) {
      ref.message.append("\r\n");
    }
    start = end + 2;
  }
  return ref;
}

bool hasBareLf(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) {
      return true;
    }
  }
  return false;
}

// A CR not followed by LF; a CR at the very end is still undecided and does not count.
bool hasBareCr(std::string_view s) {
  for (std::size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] == '\r' && s[i + 1] != '\n') {
      return true;
    }
  }
  return false;
}

// A small deterministic generator for chunk sizes, seeded from the input.
struct Rng {
  std::uint32_t state;
  std::uint32_t next() {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) {
    return 0;
  }
  const std::uint64_t max_size = data[0] == 0xff ? (1u << 20) : data[0] * 8u;
  const std::size_t max_line = 2 + data[1] % 80;
  Rng rng{0x9e3779b9u ^ (static_cast<std::uint32_t>(data[2]) * 0x01000193u)};
  const std::string_view stream(reinterpret_cast<const char*>(data + 3), size - 3);

  // Half of the inputs spill to a file after a few bytes (MessageBuffer), so the file path is
  // checked against the same reference.
  const std::size_t spill_after = data[2] % 32;
  DataReader reader(max_size, max_line,
                    (data[2] & 1) != 0
                        ? MessageBuffer(std::filesystem::temp_directory_path(), spill_after)
                        : MessageBuffer());
  std::size_t offered = 0;
  std::size_t consumed = 0;
  while (offered < stream.size()) {
    const std::uint32_t r = rng.next();
    std::size_t chunk = (r & 7) == 0 ? stream.size() - offered : (r >> 3) % 17;  // 0..16 or rest
    chunk = std::min(chunk, stream.size() - offered);
    const bool was_done = reader.done();
    const std::size_t n = reader.feed(stream.substr(offered, chunk));
    FUZZ_CHECK(n <= chunk);
    if (was_done) {
      FUZZ_CHECK(n == 0);  // nothing after the end marker is ever taken
    }
    if (!reader.done()) {
      FUZZ_CHECK(n == chunk);  // until the end, every byte offered is consumed
    }
    FUZZ_CHECK(reader.message().data.size() <= max_size);
    consumed += n;
    offered += chunk;
    FUZZ_CHECK(reader.received() == consumed);
    if (reader.done()) {
      break;
    }
  }
  if (reader.done()) {
    FUZZ_CHECK(reader.feed(stream.substr(consumed)) == 0);
  }

  const std::size_t end = referenceEnd(stream);
  if (end == kNotFound) {
    FUZZ_CHECK(!reader.done());
    FUZZ_CHECK(consumed == stream.size());
  } else {
    FUZZ_CHECK(reader.done());
    FUZZ_CHECK(consumed == end);
  }

  // Problems are flagged exactly when the consumed bytes show them.
  const std::string_view taken = stream.substr(0, consumed);
  const std::uint32_t problems = reader.problems();
  FUZZ_CHECK(((problems & DataReader::kNul) != 0) == (taken.find('\0') != kNotFound));
  FUZZ_CHECK(((problems & DataReader::kBareLf) != 0) == hasBareLf(taken));
  FUZZ_CHECK(((problems & DataReader::kBareCr) != 0) == hasBareCr(taken));

  // With only proper CRLF line ends the message, the line limit and the size limit follow the
  // reference exactly.
  if (reader.done() && (problems & (DataReader::kBareLf | DataReader::kBareCr)) == 0) {
    const Reference ref = unstuff(taken.substr(0, consumed - 3));
    FUZZ_CHECK(((problems & DataReader::kLineTooLong) != 0) == (ref.longest + 2 > max_line));
    FUZZ_CHECK(((problems & DataReader::kTooBig) != 0) == (ref.message.size() > max_size));
    if ((problems & DataReader::kTooBig) == 0) {
      FUZZ_CHECK(reader.message().data == ref.message);
    }
  }

  // The same stream in one piece gives the same result.
  DataReader whole(max_size, max_line);
  FUZZ_CHECK(whole.feed(stream) == consumed);
  FUZZ_CHECK(whole.done() == reader.done());
  FUZZ_CHECK(whole.problems() == reader.problems());
  FUZZ_CHECK(whole.message().data == reader.message().data);
  return 0;
}
