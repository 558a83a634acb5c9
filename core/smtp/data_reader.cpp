// data_reader: DATA-phase state machine (see data_reader.hpp).
#include "core/smtp/data_reader.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "core/util/strings.hpp"

namespace relayguard::smtp {

DataReader::DataReader(std::uint64_t max_size, std::size_t max_line, MessageBuffer buffer)
    : max_size_(max_size),
      max_line_content_(max_line >= 2 ? max_line - 2 : 0),
      message_(std::move(buffer)) {}

void DataReader::append(std::string_view s) {
  if (problems_ & (kTooBig | kStorage)) {
    return;
  }
  if (message_.size() + s.size() > max_size_) {
    flag(kTooBig);
    message_.clear();
    return;
  }
  message_.append(s);
  if (message_.failed()) {
    flag(kStorage);
  }
}

PagedBytes DataReader::message() {
  const PagedBytes bytes = message_.bytes();
  if (message_.failed()) {
    flag(kStorage);
  }
  return bytes;
}

void DataReader::appendChar(char c) {
  append(std::string_view(&c, 1));
}

void DataReader::countLine(std::size_t n) {
  line_length_ += n;
  if (line_length_ > max_line_content_) {
    flag(kLineTooLong);
  }
}

void DataReader::inLine(char c) {
  switch (c) {
    case '\r':
      state_ = State::kSawCr;
      return;
    case '\n':
      // A bare LF is not a line end: the next byte is not at a line start, so "\n.\n" and
      // "\n.\r\n" can never end the message.
      flag(kBareLf);
      line_length_ = 0;
      state_ = State::kInLine;
      return;
    case '\0':
      flag(kNul);
      break;
    default:
      break;
  }
  appendChar(c);
  countLine(1);
  state_ = State::kInLine;
}

PlainRun DataReader::takeLines(std::string_view bytes, std::size_t from) {
  const PlainRun run = plainLines(bytes, from,
                                  {.at_line_start = state_ == State::kLineStart,
                                   .carried = line_length_,
                                   .max_content = max_line_content_,
                                   .nul_stops = true});
  if (run.end > from) {
    append(bytes.substr(from, run.end - from));
    received_ += run.end - from;
    line_length_ = 0;
    state_ = State::kLineStart;
  }
  return run;
}

std::size_t DataReader::feed(std::string_view bytes) {
  std::size_t i = 0;
  std::size_t retry_at = 0;  // where a run of plain lines can begin again
  while (i < bytes.size() && !done_) {
    if (i >= retry_at && (state_ == State::kLineStart || state_ == State::kInLine)) {
      const PlainRun run = takeLines(bytes, i);
      retry_at = run.retry_at;
      if (run.end > i) {
        i = run.end;
        continue;
      }
    }
    const char c = bytes[i];
    switch (state_) {
      case State::kInLine: {
        // Fast path: copy the run of ordinary bytes up to the next CR, LF or NUL at once.
        const std::size_t j =
            std::min(findFirstOf(bytes, i, std::string_view("\r\n\0", 3)), bytes.size());
        if (j > i) {
          append(bytes.substr(i, j - i));
          countLine(j - i);
          received_ += j - i;
          i = j;
          continue;
        }
        inLine(c);
        break;
      }
      case State::kLineStart:
        if (c == '.') {
          state_ = State::kDotAtStart;
        } else {
          inLine(c);
        }
        break;
      case State::kSawCr:
        if (c == '\n') {
          append("\r\n");
          line_length_ = 0;
          state_ = State::kLineStart;
        } else {
          flag(kBareCr);
          appendChar('\r');
          countLine(1);
          inLine(c);
        }
        break;
      case State::kDotAtStart:
        if (c == '\r') {
          state_ = State::kDotCr;
        } else {
          // A stuffed dot: drop it, count it towards the line length as sent.
          countLine(1);
          inLine(c);
        }
        break;
      case State::kDotCr:
        if (c == '\n') {
          done_ = true;
        } else {
          // ".\r" then something other than LF: a bare CR inside a line that began with a dot.
          flag(kBareCr);
          countLine(1);
          appendChar('\r');
          countLine(1);
          inLine(c);
        }
        break;
    }
    ++received_;
    ++i;
  }
  return i;
}

}  // namespace relayguard::smtp
