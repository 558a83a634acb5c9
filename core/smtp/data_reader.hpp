// data_reader: the SMTP DATA phase as a byte-level state machine.
//
// The message ends only at CRLF "." CRLF. A bare LF or bare CR anywhere in the data marks the
// message as refused but does not end it, so none of the SMTP-smuggling variants (\n.\n, \r.\r,
// \n.\r\n, \r\n.\n, \r.\r\n; CVE-2023-51764 family) can make the relay see a second message where
// the next hop might: everything up to the real CRLF.CRLF is one message, and it is refused.
// Leading dots are unstuffed (RFC 5321 4.5.2). Limits: message size (stops storing, keeps
// scanning), text line length, NUL bytes. The message goes to a MessageBuffer, which moves a
// large one to a file as it arrives; if that file cannot be written (a full disk), kStorage is
// set and the rest is scanned without being stored, as with kTooBig. Feed it bytes as they arrive;
// it says how many it consumed, so bytes after the end marker (a pipelined next command) stay with
// the caller. Fuzzed by tests/fuzz/data_reader_fuzz.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/smtp/message_buffer.hpp"
#include "core/util/strings.hpp"

namespace relayguard::smtp {

class DataReader {
 public:
  enum Problem : std::uint32_t {
    kNone = 0,
    kBareLf = 1u << 0,
    kBareCr = 1u << 1,
    kNul = 1u << 2,
    kLineTooLong = 1u << 3,
    kTooBig = 1u << 4,
    kStorage = 1u << 5,  // the spill file failed: storageError() says why
  };

  // max_line counts the octets of a line including its CRLF (RFC 5321: 1000).
  // `buffer` receives the message (an empty MessageBuffer keeps it in memory).
  DataReader(std::uint64_t max_size, std::size_t max_line, MessageBuffer buffer = MessageBuffer());

  // Consumes bytes up to and including the end marker; returns how many were consumed.
  std::size_t feed(std::string_view bytes);
  bool done() const { return done_; }
  std::uint32_t problems() const { return problems_; }
  // The unstuffed message with CRLF line ends, excluding the end marker. Incomplete when
  // kTooBig or kStorage is set.
  // For a spilled message the first call maps the file; if that fails, kStorage is set and
  // the view is empty.
  PagedBytes message();
  int storageError() const { return message_.error(); }
  // Octets received so far, before unstuffing (for logs).
  std::uint64_t received() const { return received_; }

 private:
  enum class State { kLineStart, kInLine, kSawCr, kDotAtStart, kDotCr };
  void append(std::string_view s);
  void appendChar(char c);
  void flag(Problem p) { problems_ |= p; }
  void countLine(std::size_t n);
  // Handles a byte in the middle of a line (also used after a bare CR).
  void inLine(char c);
  // Takes the run of complete ordinary lines (CRLF-ended, no NUL or bare CR, not starting with
  // a dot, within the length limit) that begins at `from` with one append, as the byte-by-byte
  // states would take them (see plainLines()).
  PlainRun takeLines(std::string_view bytes, std::size_t from);

  std::uint64_t max_size_;
  std::size_t max_line_content_;
  State state_ = State::kLineStart;
  std::size_t line_length_ = 0;
  std::uint64_t received_ = 0;
  std::uint32_t problems_ = kNone;
  bool done_ = false;
  MessageBuffer message_;
};

}  // namespace relayguard::smtp
