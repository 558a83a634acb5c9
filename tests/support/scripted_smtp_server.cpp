// scripted_smtp_server: the test SMTP server (see scripted_smtp_server.hpp). One accept thread
// polls the listening socket; each connection runs a small SMTP state machine on its own thread.
// TLS is OpenSSL directly on the blocking socket (SSL_set_fd); SIGPIPE is ignored for the test
// process, since OpenSSL writes with write(2) and a client may hang up at any time.
#include "tests/support/scripted_smtp_server.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <utility>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util/base64.hpp"

namespace relayguard::test {
namespace {

constexpr std::size_t kMaxCommandLine = 64 * 1024;
constexpr std::size_t kReceiveChunk = 64 * 1024;
constexpr int kReapIntervalMs = 200;  // finished connection threads are joined this often

char upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (upper(a[i]) != upper(b[i])) {
      return false;
    }
  }
  return true;
}

bool istartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view firstWord(std::string_view s) {
  return s.substr(0, s.find(' '));
}

std::string_view trimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string upperCase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), upper);
  return out;
}

bool isAction(std::string_view reply) {
  return reply == kHang || reply == kDisconnect;
}

bool positive(std::string_view reply) {
  return !reply.empty() && reply.front() == '2';
}

// Splits "MAIL FROM:<a@b> SIZE=1" after its prefix into path ("a@b") and parameters.
bool parsePathArgument(std::string_view line, std::string_view prefix, std::string& path,
                       std::string& params) {
  if (!istartsWith(line, prefix)) {
    return false;
  }
  std::string_view rest = trimSpaces(line.substr(prefix.size()));
  if (rest.empty() || rest.front() != '<') {
    return false;
  }
  const auto close = rest.find('>');
  if (close == std::string_view::npos) {
    return false;
  }
  path = std::string(rest.substr(1, close - 1));
  params = std::string(trimSpaces(rest.substr(close + 1)));
  return true;
}

}  // namespace

void ScriptedSmtpPolicy::removeExtension(std::string_view keyword) {
  std::erase_if(extensions,
                [keyword](const std::string& line) { return iequals(firstWord(line), keyword); });
}

// One connection: reads command lines, answers as the current policy says, records what it saw.
class ScriptedSmtpServer::Session {
 public:
  Session(ScriptedSmtpServer& server, int fd, std::size_t number)
      : server_(server), fd_(fd), number_(number) {}
  ~Session() {
    SSL_free(ssl_);
    SSL_CTX_free(tls_context_);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void run() {
    const auto policy = server_.policy();
    if (policy->implicit_tls && !startTls(*policy)) {
      return;
    }
    const std::string greeting =
        policy->greeting.empty() ? "220 " + policy->hostname + " ESMTP scripted" : policy->greeting;
    if (!send(greeting)) {
      return;
    }
    if (greeting.starts_with("421")) {
      disconnect();
      return;
    }
    refused_ = greeting.starts_with('4') || greeting.starts_with('5');
    std::string line;
    while (readLine(line, kMaxCommandLine)) {
      server_.recordCommand(line, reads_);
      if (!handle(line, *server_.policy())) {
        return;
      }
    }
  }

 private:
  // Reads one CRLF-terminated line (CRLF removed). False on end of input, error, or a line
  // longer than max_length.
  bool readLine(std::string& line, std::size_t max_length) {
    for (;;) {
      const auto end = buffer_.find("\r\n", scan_);
      if (end != std::string::npos) {
        line.assign(buffer_, start_, end - start_);
        start_ = end + 2;
        scan_ = start_;
        if (start_ > kReceiveChunk && start_ * 2 > buffer_.size()) {
          buffer_.erase(0, start_);
          scan_ -= start_;
          start_ = 0;
        }
        return true;
      }
      if (buffer_.size() - start_ > max_length + 2) {
        return false;
      }
      if (start_ == buffer_.size()) {
        buffer_.clear();
        start_ = 0;
      }
      // A CR at the very end may be the first half of a CRLF split across reads.
      scan_ = buffer_.empty() ? start_ : std::max(start_, buffer_.size() - 1);
      const std::size_t old_size = buffer_.size();
      buffer_.resize(old_size + kReceiveChunk);
      const ssize_t n = receive(buffer_.data() + old_size, kReceiveChunk);
      buffer_.resize(old_size + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
      if (n <= 0) {
        return false;
      }
    }
  }

  // Reads what is there (up to size octets) from the socket or the TLS session; <= 0 at the end.
  ssize_t receive(char* data, std::size_t size) {
    ssize_t n = 0;
    if (ssl_ != nullptr) {
      n = SSL_read(ssl_, data, static_cast<int>(size));
    } else {
      do {
        n = ::recv(fd_, data, size, 0);
      } while (n < 0 && errno == EINTR);
    }
    reads_ += n > 0 ? 1 : 0;
    return n;
  }

  bool writeAll(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = 0;
      if (ssl_ != nullptr) {
        n = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
      } else {
        n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
          continue;
        }
      }
      if (n <= 0) {
        return false;
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // The server side of the handshake on this connection. False (recorded as a failure) when
  // the certificate cannot be loaded or the client aborts the handshake.
  bool startTls(const ScriptedSmtpPolicy& policy) {
    tls_context_ = SSL_CTX_new(TLS_server_method());
    bool ok =
        tls_context_ != nullptr &&
        SSL_CTX_use_certificate_chain_file(tls_context_, policy.tls_certificate.c_str()) == 1 &&
        SSL_CTX_use_PrivateKey_file(tls_context_, policy.tls_private_key.c_str(),
                                    SSL_FILETYPE_PEM) == 1;
    if (ok) {
      ssl_ = SSL_new(tls_context_);
      ok = ssl_ != nullptr && SSL_set_fd(ssl_, fd_) == 1 && SSL_accept(ssl_) == 1;
    }
    ERR_clear_error();
    server_.recordHandshake(ok);
    if (!ok) {
      // Nothing more may go over this connection, in TLS or in plaintext.
      disconnect();
      return false;
    }
    // RFC 3207 4.2: the session starts over.
    helo_.clear();
    esmtp_ = false;
    auth_user_.clear();
    resetTransaction();
    return true;
  }

  // Sends a reply (or performs kHang/kDisconnect). False when the connection is over.
  bool send(std::string_view reply) {
    if (!server_.pause(server_.policy()->reply_delay)) {
      return false;
    }
    if (reply == kHang) {
      hang();
      return false;
    }
    if (reply == kDisconnect) {
      disconnect();
      return false;
    }
    std::string wire;
    while (!reply.empty()) {
      const auto nl = reply.find('\n');
      std::string_view line = reply.substr(0, nl);
      if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
      }
      wire.append(line);
      wire.append("\r\n");
      reply.remove_prefix(nl == std::string_view::npos ? reply.size() : nl + 1);
    }
    return writeAll(wire);
  }

  void hang() {
    char sink[4096];
    while (receive(sink, sizeof sink) > 0) {
    }
  }

  void disconnect() { ::shutdown(fd_, SHUT_RDWR); }

  void resetTransaction() {
    in_transaction_ = false;
    transaction_ = ScriptedTransaction{};
  }

  // Handles one command line. False when the connection is over.
  bool handle(const std::string& line, const ScriptedSmtpPolicy& policy) {
    if (policy.command_hook) {
      const std::string hooked = policy.command_hook(line);
      if (!hooked.empty()) {
        return send(hooked);
      }
    }
    const std::string verb = upperCase(firstWord(line));
    if (refused_ && verb != "QUIT") {
      return send("503 5.5.1 no service");
    }
    if (verb == "EHLO" || verb == "HELO") {
      return hello(line, verb == "EHLO", policy);
    }
    if (verb == "STARTTLS") {
      return starttls(policy);
    }
    if (verb == "AUTH") {
      return auth(line, policy);
    }
    if (verb == "MAIL") {
      if (policy.require_tls && ssl_ == nullptr) {
        return send("530 5.7.0 Must issue a STARTTLS command first");
      }
      if (policy.require_auth && auth_user_.empty()) {
        return send("530 5.7.0 Authentication required");
      }
      return mail(line, policy);
    }
    if (verb == "RCPT") {
      return rcpt(line, policy);
    }
    if (verb == "DATA") {
      return data(policy);
    }
    if (verb == "RSET") {
      resetTransaction();
      return send(policy.rset_reply.empty() ? "250 2.0.0 OK" : policy.rset_reply);
    }
    if (verb == "NOOP") {
      return send("250 2.0.0 OK");
    }
    if (verb == "VRFY") {
      return send("252 2.5.0 cannot verify");
    }
    if (verb == "QUIT") {
      send("221 2.0.0 " + policy.hostname + " closing");
      disconnect();
      return false;
    }
    return send("502 5.5.2 command not recognised");
  }

  bool hello(const std::string& line, bool extended, const ScriptedSmtpPolicy& policy) {
    const std::string name(trimSpaces(std::string_view(line).substr(4)));
    std::string reply = extended ? policy.ehlo_reply : policy.helo_reply;
    if (reply.empty()) {
      if (extended) {
        reply = (policy.extensions.empty() ? "250 " : "250-") + policy.hostname + " greets " + name;
        std::vector<std::string> keywords = policy.extensions;
        if (offersStartTls(policy)) {
          keywords.push_back("STARTTLS");
        }
        if (offersAuth(policy)) {
          std::string auth = "AUTH";
          for (const auto& m : policy.auth_mechanisms) {
            auth += " " + m;
          }
          keywords.push_back(auth);
        }
        reply = (keywords.empty() ? "250 " : "250-") + policy.hostname + " greets " + name;
        for (std::size_t i = 0; i < keywords.size(); ++i) {
          reply += (i + 1 == keywords.size() ? "\n250 " : "\n250-") + keywords[i];
        }
      } else {
        reply = "250 " + policy.hostname;
      }
    }
    if (positive(reply)) {
      helo_ = name;
      esmtp_ = extended;
      resetTransaction();
    }
    return send(reply);
  }

  bool offersStartTls(const ScriptedSmtpPolicy& policy) const {
    return ssl_ == nullptr && policy.offer_starttls && !policy.tls_certificate.empty();
  }

  bool offersAuth(const ScriptedSmtpPolicy& policy) const {
    return !policy.auth_mechanisms.empty() && (ssl_ != nullptr || !policy.auth_requires_tls);
  }

  bool starttls(const ScriptedSmtpPolicy& policy) {
    if (!offersStartTls(policy)) {
      return send("502 5.5.1 STARTTLS not available");
    }
    if (!send("220 2.0.0 Ready to start TLS")) {
      return false;
    }
    // Plaintext pipelined after STARTTLS must not survive into the TLS session.
    buffer_.clear();
    start_ = 0;
    scan_ = 0;
    return startTls(policy);
  }

  // AUTH PLAIN [initial-response] or AUTH LOGIN [username]; records what was presented.
  bool auth(const std::string& line, const ScriptedSmtpPolicy& policy) {
    const auto words = splitWords(line);
    if (!offersAuth(policy)) {
      return send(ssl_ == nullptr && !policy.auth_mechanisms.empty()
                      ? "538 5.7.11 Encryption required for requested authentication mechanism"
                      : "502 5.5.1 AUTH not available");
    }
    if (!auth_user_.empty() || in_transaction_) {
      return send("503 5.5.1 AUTH not allowed now");
    }
    ScriptedAuth attempt;
    attempt.connection = number_;
    attempt.tls = ssl_ != nullptr;
    attempt.mechanism = words.size() > 1 ? upperCase(words[1]) : "";
    const bool offered = std::find(policy.auth_mechanisms.begin(), policy.auth_mechanisms.end(),
                                   attempt.mechanism) != policy.auth_mechanisms.end();
    if (!offered || words.size() > 3) {
      return send("504 5.5.4 mechanism not supported");
    }
    std::optional<std::string> decoded;
    bool ok = false;
    if (attempt.mechanism == "PLAIN") {
      std::string response = words.size() == 3 ? words[2] : "";
      if (words.size() == 2 && !challenge("", response)) {
        return false;
      }
      decoded = decodeBase64(response);
      if (decoded) {
        // authzid NUL authcid NUL passwd
        const auto first = decoded->find('\0');
        const auto second = first == std::string::npos ? first : decoded->find('\0', first + 1);
        if (second != std::string::npos) {
          attempt.username = decoded->substr(first + 1, second - first - 1);
          attempt.password = decoded->substr(second + 1);
          ok = true;
        }
      }
    } else if (attempt.mechanism == "LOGIN") {
      std::string user = words.size() == 3 ? words[2] : "";
      if (words.size() == 2 && !challenge(encodeBase64("Username:"), user)) {
        return false;
      }
      std::string password;
      if (!challenge(encodeBase64("Password:"), password)) {
        return false;
      }
      const auto u = decodeBase64(user);
      const auto p = decodeBase64(password);
      if (u && p) {
        attempt.username = *u;
        attempt.password = *p;
        ok = true;
      }
    } else {
      return send("504 5.5.4 mechanism not supported");
    }
    if (!ok) {
      server_.recordAuth(attempt);
      return send("501 5.5.2 cannot decode the response");
    }
    const auto user = policy.users.find(attempt.username);
    attempt.success = user != policy.users.end() && user->second == attempt.password;
    server_.recordAuth(attempt);
    if (!attempt.success) {
      return send("535 5.7.8 Authentication credentials invalid");
    }
    auth_user_ = attempt.username;
    return send("235 2.7.0 Authentication successful");
  }

  // Sends "334 <text>" and reads the client's answer line; false when the connection is over
  // or the client cancelled ("*", answered 501).
  bool challenge(const std::string& text, std::string& answer) {
    if (!send("334 " + text) || !readLine(answer, kMaxCommandLine)) {
      answer.clear();
      return false;
    }
    if (answer == "*") {
      send("501 5.0.0 AUTH cancelled");
      answer.clear();
      return false;
    }
    return true;
  }

  static std::vector<std::string> splitWords(std::string_view line) {
    std::vector<std::string> words;
    while (!line.empty()) {
      line = trimSpaces(line);
      const auto end = line.find(' ');
      if (!line.empty()) {
        words.emplace_back(line.substr(0, end));
      }
      line.remove_prefix(end == std::string_view::npos ? line.size() : end);
    }
    return words;
  }

  bool mail(const std::string& line, const ScriptedSmtpPolicy& policy) {
    if (in_transaction_) {
      return send("503 5.5.1 nested MAIL command");
    }
    std::string path;
    std::string params;
    if (!parsePathArgument(line, "MAIL FROM:", path, params)) {
      return send("501 5.5.4 syntax: MAIL FROM:<address>");
    }
    std::string reply = policy.mail_reply ? policy.mail_reply(path, params) : std::string();
    if (reply.empty()) {
      reply = "250 2.1.0 OK";
    }
    if (positive(reply)) {
      in_transaction_ = true;
      transaction_.mail_from = path;
      transaction_.mail_params = params;
    }
    return send(reply);
  }

  bool rcpt(const std::string& line, const ScriptedSmtpPolicy& policy) {
    if (!in_transaction_) {
      return send("503 5.5.1 need MAIL before RCPT");
    }
    std::string path;
    std::string params;
    if (!parsePathArgument(line, "RCPT TO:", path, params)) {
      return send("501 5.5.4 syntax: RCPT TO:<address>");
    }
    std::string reply;
    if (const auto it = policy.rcpt_replies.find(path); it != policy.rcpt_replies.end()) {
      reply = it->second;
    } else if (policy.rcpt_reply) {
      reply = policy.rcpt_reply(path);
    }
    if (reply.empty()) {
      reply = "250 2.1.5 OK";
    }
    if (!isAction(reply)) {
      (positive(reply) ? transaction_.rcpt_to : transaction_.rcpt_refused).push_back(path);
    }
    return send(reply);
  }

  bool data(const ScriptedSmtpPolicy& policy) {
    if (!in_transaction_) {
      return send("503 5.5.1 need MAIL before DATA");
    }
    if (transaction_.rcpt_to.empty()) {
      return send("554 5.5.1 no valid recipients");
    }
    const std::string start =
        policy.data_reply.empty() ? "354 End data with <CR><LF>.<CR><LF>" : policy.data_reply;
    if (!send(start)) {
      return false;
    }
    if (!start.starts_with('3')) {
      return true;
    }
    if (policy.stall_in_data) {
      while (server_.pause(std::chrono::milliseconds(100))) {
      }
      return false;
    }
    std::string content;
    bool too_big = false;
    std::string line;
    for (;;) {
      if (!readLine(line, policy.max_message_size)) {
        return false;
      }
      if (line == ".") {
        break;
      }
      const std::string_view unstuffed =
          line.starts_with('.') ? std::string_view(line).substr(1) : std::string_view(line);
      if (too_big || content.size() + unstuffed.size() + 2 > policy.max_message_size) {
        too_big = true;
        content.clear();
        continue;
      }
      content.append(unstuffed);
      content.append("\r\n");
    }
    if (too_big) {
      resetTransaction();
      return send("552 5.3.4 message too big");
    }
    transaction_.data = std::move(content);
    transaction_.connection = number_;
    transaction_.helo = helo_;
    transaction_.esmtp = esmtp_;
    transaction_.tls = ssl_ != nullptr;
    transaction_.tls_version = ssl_ != nullptr ? SSL_get_version(ssl_) : "";
    transaction_.auth_user = auth_user_;
    const auto current = server_.policy();
    std::string reply =
        current->end_of_data_reply ? current->end_of_data_reply(transaction_) : std::string();
    if (reply.empty()) {
      reply = "250 2.0.0 OK queued as S" + std::to_string(number_) + "-" +
              std::to_string(completed_ + 1);
    }
    transaction_.final_reply = reply;
    // Recorded before answering, so a client that has seen the reply also sees the record.
    server_.recordTransaction(transaction_);
    ++completed_;
    resetTransaction();
    if (!send(reply)) {
      return false;
    }
    if (current->close_after_transactions != 0 && completed_ >= current->close_after_transactions) {
      disconnect();
      return false;
    }
    return true;
  }

  ScriptedSmtpServer& server_;
  int fd_;
  std::size_t number_;
  std::size_t reads_ = 0;  // reads that brought octets, for commandReads()
  std::string buffer_;
  std::size_t start_ = 0;  // first unconsumed byte of buffer_
  std::size_t scan_ = 0;   // where the search for the next CRLF resumes
  std::string helo_;
  bool esmtp_ = false;
  bool refused_ = false;  // greeted with 4xx/5xx: only QUIT is served
  bool in_transaction_ = false;
  ScriptedTransaction transaction_;
  std::size_t completed_ = 0;
  SSL_CTX* tls_context_ = nullptr;
  SSL* ssl_ = nullptr;  // set once TLS is up
  std::string auth_user_;
};

ScriptedSmtpServer::ScriptedSmtpServer(ScriptedSmtpPolicy policy)
    : policy_(std::make_shared<const ScriptedSmtpPolicy>(std::move(policy))) {
  std::signal(SIGPIPE, SIG_IGN);
  if (::pipe2(wake_fds_, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("scripted smtp server: pipe: ") + std::strerror(errno));
  }
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) {
    const std::string error = std::strerror(errno);
    closeWakePipe();
    throw std::runtime_error("scripted smtp server: socket: " + error);
  }
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = 0;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  // The sockets API takes the generic sockaddr; sockaddr_in is layout-compatible by design.
  auto* generic = reinterpret_cast<sockaddr*>(&address);
  if (::bind(listen_fd_, generic, sizeof address) != 0 || ::listen(listen_fd_, 128) != 0 ||
      ::getsockname(listen_fd_, generic, &length) != 0) {
    const std::string error = std::strerror(errno);
    ::close(listen_fd_);
    closeWakePipe();
    throw std::runtime_error("scripted smtp server: cannot listen on 127.0.0.1: " + error);
  }
  port_ = ntohs(address.sin_port);
  accept_thread_ = std::thread([this] { acceptLoop(); });
}

ScriptedSmtpServer::~ScriptedSmtpServer() {
  stop();
}

void ScriptedSmtpServer::closeWakePipe() {
  for (int& fd : wake_fds_) {
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
    }
  }
}

std::string ScriptedSmtpServer::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

void ScriptedSmtpServer::setPolicy(ScriptedSmtpPolicy policy) {
  auto next = std::make_shared<const ScriptedSmtpPolicy>(std::move(policy));
  std::lock_guard lock(mutex_);
  policy_ = std::move(next);
}

std::shared_ptr<const ScriptedSmtpPolicy> ScriptedSmtpServer::policy() const {
  std::lock_guard lock(mutex_);
  return policy_;
}

void ScriptedSmtpServer::acceptLoop() {
  while (!stopping_) {
    pollfd entries[2] = {{listen_fd_, POLLIN, 0}, {wake_fds_[0], POLLIN, 0}};
    const int ready = ::poll(entries, 2, kReapIntervalMs);
    reapFinished();
    if (ready <= 0 || stopping_ || (entries[0].revents & POLLIN) == 0) {
      continue;
    }
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    // Replies to pipelined commands go out one send() each: without this, Nagle's algorithm
    // and the client's delayed ACK add 40 ms per pipelined group.
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard lock(mutex_);
    if (stopping_) {
      ::close(fd);
      break;
    }
    auto connection = std::make_unique<Connection>();
    connection->fd = fd;
    connection->number = ++connection_count_;
    ++open_connections_;
    Connection* raw = connection.get();
    connection->thread = std::thread([this, raw] {
      Session session(*this, raw->fd, raw->number);
      session.run();
      ::shutdown(raw->fd, SHUT_RDWR);
      {
        std::lock_guard inner(mutex_);
        --open_connections_;
      }
      changed_.notify_all();
      raw->finished = true;
    });
    connections_.push_back(std::move(connection));
    changed_.notify_all();
  }
}

void ScriptedSmtpServer::reapFinished() {
  std::list<std::unique_ptr<Connection>> done;
  {
    std::lock_guard lock(mutex_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      if ((*it)->finished) {
        done.push_back(std::move(*it));
        it = connections_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& connection : done) {
    connection->thread.join();
    ::close(connection->fd);
  }
}

void ScriptedSmtpServer::stop() {
  if (stopping_.exchange(true)) {
    return;
  }
  {
    // Taking the lock orders the flag change before any waiter's predicate check.
    std::lock_guard lock(mutex_);
  }
  changed_.notify_all();
  const char wake = 1;
  while (::write(wake_fds_[1], &wake, 1) < 0 && errno == EINTR) {
  }
  if (accept_thread_.joinable()) {
    accept_thread_.join();
  }
  ::close(listen_fd_);
  closeWakePipe();
  std::list<std::unique_ptr<Connection>> all;
  {
    std::lock_guard lock(mutex_);
    for (auto& connection : connections_) {
      ::shutdown(connection->fd, SHUT_RDWR);
    }
    all = std::move(connections_);
    connections_.clear();
  }
  for (auto& connection : all) {
    connection->thread.join();
    ::close(connection->fd);
  }
}

bool ScriptedSmtpServer::pause(std::chrono::milliseconds delay) const {
  if (delay.count() <= 0) {
    return !stopping_;
  }
  std::unique_lock lock(mutex_);
  return !changed_.wait_for(lock, delay, [this] { return stopping_.load(); });
}

void ScriptedSmtpServer::recordCommand(const std::string& line, std::size_t read) {
  {
    std::lock_guard lock(mutex_);
    commands_.push_back(line);
    command_reads_.push_back(read);
  }
  changed_.notify_all();
}

void ScriptedSmtpServer::recordTransaction(const ScriptedTransaction& transaction) {
  {
    std::lock_guard lock(mutex_);
    transactions_.push_back(transaction);
  }
  changed_.notify_all();
}

void ScriptedSmtpServer::recordAuth(const ScriptedAuth& auth) {
  {
    std::lock_guard lock(mutex_);
    auths_.push_back(auth);
  }
  changed_.notify_all();
}

void ScriptedSmtpServer::recordHandshake(bool ok) {
  {
    std::lock_guard lock(mutex_);
    ++(ok ? tls_handshakes_ : tls_failures_);
  }
  changed_.notify_all();
}

std::vector<ScriptedAuth> ScriptedSmtpServer::authAttempts() const {
  std::lock_guard lock(mutex_);
  return auths_;
}

std::size_t ScriptedSmtpServer::tlsHandshakes() const {
  std::lock_guard lock(mutex_);
  return tls_handshakes_;
}

std::size_t ScriptedSmtpServer::tlsFailures() const {
  std::lock_guard lock(mutex_);
  return tls_failures_;
}

std::vector<ScriptedTransaction> ScriptedSmtpServer::transactions() const {
  std::lock_guard lock(mutex_);
  return transactions_;
}

std::vector<std::string> ScriptedSmtpServer::commands() const {
  std::lock_guard lock(mutex_);
  return commands_;
}

std::vector<std::size_t> ScriptedSmtpServer::commandReads() const {
  std::lock_guard lock(mutex_);
  return command_reads_;
}

std::size_t ScriptedSmtpServer::countLocked(std::string_view verb) const {
  return static_cast<std::size_t>(
      std::count_if(commands_.begin(), commands_.end(),
                    [verb](const std::string& line) { return iequals(firstWord(line), verb); }));
}

std::size_t ScriptedSmtpServer::commandCount(std::string_view verb) const {
  std::lock_guard lock(mutex_);
  return countLocked(verb);
}

std::size_t ScriptedSmtpServer::connectionCount() const {
  std::lock_guard lock(mutex_);
  return connection_count_;
}

std::size_t ScriptedSmtpServer::openConnections() const {
  std::lock_guard lock(mutex_);
  return open_connections_;
}

bool ScriptedSmtpServer::waitForMessages(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return transactions_.size() >= n; });
}

bool ScriptedSmtpServer::waitForCommands(std::string_view verb, std::size_t n,
                                         std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return countLocked(verb) >= n; });
}

}  // namespace relayguard::test
