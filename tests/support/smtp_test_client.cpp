// smtp_test_client: blocking POSIX-socket SMTP client for tests (see smtp_test_client.hpp).
#include "tests/support/smtp_test_client.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace relayguard::test {
namespace {

using Clock = std::chrono::steady_clock;

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

bool fillAddress(const std::string& host, std::uint16_t port, sockaddr_in& addr) {
  addr = sockaddr_in{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  return ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) == 1;
}

}  // namespace

std::string SmtpReply::enhanced() const {
  if (lines.empty()) {
    return "";
  }
  const std::string& first = lines.front();
  const std::string word = first.substr(0, first.find(' '));
  // class.subject.detail: a digit, a dot, 1-3 digits, a dot, 1-3 digits.
  if (word.size() >= 5 && isDigit(word[0]) && word[1] == '.' &&
      word.find_first_not_of("0123456789.") == std::string::npos &&
      std::count(word.begin(), word.end(), '.') == 2) {
    return word;
  }
  return "";
}

std::string SmtpReply::text() const {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out += (i ? "\n" : "") + lines[i];
  }
  return out;
}

std::string SmtpReply::str() const {
  if (code == 0) {
    return "<no reply: " + error + ">";
  }
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out +=
        (i ? "\\r\\n" : "") + std::to_string(code) + (i + 1 < lines.size() ? "-" : " ") + lines[i];
  }
  return out;
}

std::ostream& operator<<(std::ostream& out, const SmtpReply& reply) {
  return out << reply.str();
}

std::string SmtpTransaction::queueId() const {
  if (final.lines.empty()) {
    return "";
  }
  const std::string& line = final.lines.front();
  const auto space = line.find_last_of(' ');
  return space == std::string::npos ? line : line.substr(space + 1);
}

SmtpTestClient::SmtpTestClient(std::chrono::milliseconds timeout) : timeout_(timeout) {}

SmtpTestClient::~SmtpTestClient() {
  close();
}

void SmtpTestClient::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  in_.clear();
}

bool SmtpTestClient::connect(const std::string& host, std::uint16_t port,
                             const std::string& source) {
  close();
  sockaddr_in addr{};
  if (!fillAddress(host, port, addr)) {
    error_ = "not an IPv4 address: " + host;
    return false;
  }
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    error_ = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  if (!source.empty()) {
    sockaddr_in from{};
    if (!fillAddress(source, 0, from)) {
      error_ = "not an IPv4 address: " + source;
      close();
      return false;
    }
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      error_ = "bind " + source + ": " + std::strerror(errno);
      close();
      return false;
    }
  }
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error_ = "connect " + host + ":" + std::to_string(port) + ": " + std::strerror(errno);
    close();
    return false;
  }
  return true;
}

bool SmtpTestClient::sendRaw(std::string_view bytes) {
  if (fd_ < 0) {
    error_ = "not connected";
    return false;
  }
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      error_ = std::string("send: ") + std::strerror(errno);
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

SmtpReply SmtpTestClient::readReply() {
  return readReply(timeout_);
}

SmtpReply SmtpTestClient::readReply(std::chrono::milliseconds timeout) {
  SmtpReply reply;
  const auto deadline = Clock::now() + timeout;
  std::size_t pos = 0;  // start of the first line not yet parsed
  for (;;) {
    // Parse every complete line buffered so far.
    for (;;) {
      const auto lf = in_.find('\n', pos);
      if (lf == std::string::npos) {
        break;
      }
      std::string line = in_.substr(pos, lf - pos);
      pos = lf + 1;
      if (!line.empty() && line.back() == '\r') {
        line.pop_back();
      }
      if (line.size() < 3 || !isDigit(line[0]) || !isDigit(line[1]) || !isDigit(line[2]) ||
          (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
        in_.erase(0, pos);
        reply.code = 0;
        reply.lines.clear();
        reply.error = "garbled reply line: " + line;
        return reply;
      }
      const int code = std::stoi(line.substr(0, 3));
      reply.lines.push_back(line.size() > 4 ? line.substr(4) : "");
      if (line.size() == 3 || line[3] == ' ') {
        in_.erase(0, pos);
        reply.code = code;
        return reply;
      }
    }
    if (fd_ < 0) {
      reply.error = "not connected";
      return reply;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      reply.error = "timeout; partial input: '" + in_ + "'";
      reply.lines.clear();
      return reply;
    }
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno != EINTR) {
      reply.error = std::string("poll: ") + std::strerror(errno);
      reply.lines.clear();
      return reply;
    }
    if (ready <= 0) {
      continue;
    }
    char buf[8192];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
      reply.error =
          n == 0 ? "connection closed by the server" : std::string("recv: ") + std::strerror(errno);
      if (!in_.empty()) {
        reply.error += "; partial input: '" + in_ + "'";
      }
      reply.lines.clear();
      return reply;
    }
    if (n > 0) {
      in_.append(buf, static_cast<std::size_t>(n));
    }
  }
}

SmtpReply SmtpTestClient::command(std::string_view line) {
  std::string wire(line);
  wire += "\r\n";
  if (!sendRaw(wire)) {
    SmtpReply failed;
    failed.error = error_;
    return failed;
  }
  return readReply();
}

bool SmtpTestClient::waitForClose(std::chrono::milliseconds timeout) {
  if (fd_ < 0) {
    return true;
  }
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      return false;
    }
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready <= 0) {
      continue;
    }
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) {
      return true;
    }
    if (n > 0) {
      in_.append(buf, static_cast<std::size_t>(n));
    }
  }
}

bool SmtpTestClient::greetAndEhlo(const std::string& name) {
  const SmtpReply greeting = readReply();
  if (greeting.code != 220) {
    error_ = "greeting: " + greeting.str();
    return false;
  }
  const SmtpReply ehlo = command("EHLO " + name);
  if (ehlo.code != 250) {
    error_ = "EHLO: " + ehlo.str();
    return false;
  }
  return true;
}

SmtpTransaction SmtpTestClient::sendMail(const std::string& from,
                                         const std::vector<std::string>& rcpts,
                                         std::string_view message, const std::string& mail_params) {
  SmtpTransaction t;
  auto record = [&t](SmtpReply r) {
    t.replies.push_back(r);
    t.final = std::move(r);
  };
  record(command("MAIL FROM:<" + from + ">" + (mail_params.empty() ? "" : " " + mail_params)));
  if (t.final.code != 250) {
    return t;
  }
  bool any = false;
  for (const auto& rcpt : rcpts) {
    record(command("RCPT TO:<" + rcpt + ">"));
    any = any || t.final.code == 250 || t.final.code == 251;
  }
  if (!any) {
    return t;
  }
  record(command("DATA"));
  if (t.final.code != 354) {
    return t;
  }
  if (!sendRaw(dotStuff(message) + ".\r\n")) {
    SmtpReply failed;
    failed.error = error_;
    record(failed);
    return t;
  }
  record(readReply());
  return t;
}

std::string SmtpTestClient::dotStuff(std::string_view message) {
  std::string out;
  out.reserve(message.size() + 64);
  bool line_start = true;
  for (char c : message) {
    if (line_start && c == '.') {
      out += '.';
    }
    out += c;
    line_start = c == '\n';
  }
  if (!out.ends_with("\r\n")) {
    out += "\r\n";
  }
  return out;
}

}  // namespace relayguard::test
