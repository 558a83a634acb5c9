// smtp_test_client: blocking POSIX-socket SMTP client for tests (see smtp_test_client.hpp).
#include "tests/support/smtp_test_client.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util/base64.hpp"

namespace relayguard::test {
namespace {

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
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (ssl_ctx_ != nullptr) {
    SSL_CTX_free(ssl_ctx_);
    ssl_ctx_ = nullptr;
  }
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
  const auto deadline = Clock::now() + timeout_;
  while (!bytes.empty()) {
    if (ssl_ != nullptr) {
      const int n = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      const int err = SSL_get_error(ssl_, n);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        error_ = tlsError("TLS write");
        return false;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        error_ = "TLS write: timeout";
        return false;
      }
      pollfd p{fd_, static_cast<short>(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
      ::poll(&p, 1, static_cast<int>(left));
      continue;
    }
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

long SmtpTestClient::receive(char* buf, std::size_t size, Clock::time_point deadline) {
  for (;;) {
    short events = POLLIN;
    if (ssl_ != nullptr) {
      const int n = SSL_read(ssl_, buf, static_cast<int>(size));
      if (n > 0) {
        return n;
      }
      const int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && errno == 0)) {
        return 0;
      }
      if (err == SSL_ERROR_WANT_WRITE) {
        events = POLLOUT;
      } else if (err != SSL_ERROR_WANT_READ) {
        error_ = tlsError("TLS read");
        return -1;
      }
    } else {
      const ssize_t n = ::recv(fd_, buf, size, MSG_DONTWAIT);
      if (n >= 0) {
        return static_cast<long>(n);
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        error_ = std::string("recv: ") + std::strerror(errno);
        return -1;
      }
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      error_ = "timeout";
      return -2;
    }
    pollfd p{fd_, events, 0};
    ::poll(&p, 1, static_cast<int>(left));
  }
}

std::string SmtpTestClient::tlsError(const std::string& what) const {
  std::string out = what + ": ";
  unsigned long last = 0;
  while (const unsigned long e = ERR_get_error()) {
    last = e;
  }
  if (last != 0) {
    char buf[256];
    ERR_error_string_n(last, buf, sizeof buf);
    out += buf;
  } else {
    out += errno != 0 ? std::strerror(errno) : "connection closed";
  }
  if (ssl_ != nullptr && SSL_get_verify_result(ssl_) != X509_V_OK) {
    out += std::string(" (certificate: ") +
           X509_verify_cert_error_string(SSL_get_verify_result(ssl_)) + ")";
  }
  return out;
}

bool SmtpTestClient::handshake(const std::filesystem::path& ca_file, const std::string& host) {
  if (fd_ < 0) {
    error_ = "not connected";
    return false;
  }
  ERR_clear_error();
  ssl_ctx_ = SSL_CTX_new(TLS_client_method());
  if (ssl_ctx_ == nullptr ||
      SSL_CTX_load_verify_locations(ssl_ctx_, ca_file.c_str(), nullptr) != 1) {
    error_ = tlsError("loading " + ca_file.string());
    return false;
  }
  SSL_CTX_set_verify(ssl_ctx_, SSL_VERIFY_PEER, nullptr);
  ssl_ = SSL_new(ssl_ctx_);
  in6_addr ignored{};
  const bool is_ip = ::inet_pton(AF_INET, host.c_str(), &ignored) == 1 ||
                     ::inet_pton(AF_INET6, host.c_str(), &ignored) == 1;
  if (is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str());
  } else {
    SSL_set1_host(ssl_, host.c_str());
    // SNI; SSL_set_tlsext_host_name() is a macro with a C cast.
    SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(host.c_str()));
  }
  SSL_set_fd(ssl_, fd_);
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  const auto deadline = Clock::now() + timeout_;
  for (;;) {
    errno = 0;
    const int rc = SSL_connect(ssl_);
    if (rc == 1) {
      return true;
    }
    const int err = SSL_get_error(ssl_, rc);
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if ((err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) || left <= 0) {
      error_ = left <= 0 ? "TLS handshake: timeout" : tlsError("TLS handshake");
      SSL_free(ssl_);
      ssl_ = nullptr;
      return false;
    }
    pollfd p{fd_, static_cast<short>(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
    ::poll(&p, 1, static_cast<int>(left));
  }
}

bool SmtpTestClient::startTls(const std::filesystem::path& ca_file, const std::string& host) {
  const SmtpReply ready = command("STARTTLS");
  if (ready.code != 220) {
    error_ = "STARTTLS: " + ready.str();
    return false;
  }
  return handshake(ca_file, host);
}

std::string SmtpTestClient::tlsVersion() const {
  return ssl_ != nullptr ? SSL_get_version(ssl_) : "";
}

SmtpReply SmtpTestClient::authPlain(const std::string& user, const std::string& password) {
  const std::string message = std::string(1, '\0') + user + std::string(1, '\0') + password;
  return command("AUTH PLAIN " + encodeBase64(message));
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
    char buf[8192];
    const long n = receive(buf, sizeof buf, deadline);
    if (n == -2) {
      reply.error = "timeout; partial input: '" + in_ + "'";
      reply.lines.clear();
      return reply;
    }
    if (n <= 0) {
      reply.error = n == 0 ? "connection closed by the server" : error_;
      if (!in_.empty()) {
        reply.error += "; partial input: '" + in_ + "'";
      }
      reply.lines.clear();
      return reply;
    }
    in_.append(buf, static_cast<std::size_t>(n));
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
    char buf[4096];
    const long n = receive(buf, sizeof buf, deadline);
    if (n == -2) {
      return false;
    }
    if (n <= 0) {
      return true;  // closed, or reset: the connection is gone
    }
    in_.append(buf, static_cast<std::size_t>(n));
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
