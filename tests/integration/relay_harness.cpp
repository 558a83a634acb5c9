// relay_harness: config writing, process start-up and log reporting for the integration tests
// (see relay_harness.hpp).
#include "tests/integration/relay_harness.hpp"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <stdlib.h>

namespace relayguard::test {
namespace {

using namespace std::chrono_literals;

std::string tomlString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out + "\"";
}

std::string tomlArray(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    out += (i ? ", " : "") + tomlString(items[i]);
  }
  return out + "]";
}

std::string tail(const std::string& text, std::size_t max_lines) {
  std::size_t pos = text.size();
  for (std::size_t n = 0; n <= max_lines && pos > 0; ++n) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) {
      return text;
    }
  }
  return "[...]\n" + text.substr(pos + 1);
}

}  // namespace

const std::string& relayguardBinary() {
  static const std::string path = RELAYGUARD_BINARY;
  return path;
}

bool waitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<nlohmann::json> auditLines(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<nlohmann::json> out;
  for (const auto& f : files) {
    std::istringstream in(readFile(f));
    for (std::string line; std::getline(in, line);) {
      out.push_back(nlohmann::json::parse(line));
    }
  }
  return out;
}

Relay::Relay(std::filesystem::path folder, RelayOptions options)
    : folder_(std::move(folder)),
      config_file_(folder_ / "relayguard.toml"),
      spool_dir_(options.spool_dir.empty() ? folder_ / "spool" : options.spool_dir),
      log_file_(folder_ / "relay.log"),
      port_(freeLoopbackPort()),
      options_(std::move(options)) {
  std::filesystem::create_directories(folder_ / "rules");
  // An empty pipeline; tests that filter write their own rules before start().
  std::ofstream(folder_ / "rules" / "pipeline.toml") << "# no stages\n";
  std::ostringstream c;
  c << "# integration test relay\n"
    << "hostname = " << tomlString(options_.hostname) << "\n"
    << "spool_dir = " << tomlString(spool_dir_.string()) << "\n"
    << "rules_dir = \"rules\"\n\n"
    << "[[listener]]\n"
    << "address = \"127.0.0.1:" << port_ << "\"\n"
    << "mode = \"relay\"\n\n";
  for (const auto& mode : options_.extra_listeners) {
    extra_ports_.push_back(freeLoopbackPort());
    c << "[[listener]]\n"
      << "address = \"127.0.0.1:" << extra_ports_.back() << "\"\n"
      << "mode = " << tomlString(mode) << "\n";
    for (const auto& line : options_.extra_listener_lines) {
      c << line << "\n";
    }
    c << "\n";
  }
  c << "[access]\n"
    << "relay_networks = " << tomlArray(options_.relay_networks) << "\n";
  for (const auto& line : options_.access) {
    c << line << "\n";
  }
  c << "\n[limits]\n";
  for (const auto& line : options_.limits) {
    c << line << "\n";
  }
  c << "\n[[route]]\n"
    << "domains = [\"*\"]\n"
    << "smart_hosts = " << tomlArray(options_.smart_hosts) << "\n";
  for (const auto& line : options_.route) {
    c << line << "\n";
  }
  c << "\n[delivery]\n";
  for (const auto& line : options_.delivery) {
    c << line << "\n";
  }
  for (const auto& line : options_.extra_config) {
    c << line << "\n";
  }
  std::ofstream out(config_file_, std::ios::binary | std::ios::trunc);
  out << c.str();
  out.close();
  if (!out) {
    throw std::runtime_error("cannot write " + config_file_.string());
  }
}

Relay::~Relay() {
  kill9();
}

void Relay::start() {
  if (running()) {
    throw std::runtime_error("relay already running");
  }
  std::vector<std::string> args = {"serve", "--config", config_file_.string()};
  args.insert(args.end(), options_.serve_args.begin(), options_.serve_args.end());
  // A restart must not see the previous run's "ready" line: remember where this run's log starts.
  const std::size_t log_start = std::filesystem::exists(log_file_) ? readFile(log_file_).size() : 0;
  process_ = std::make_unique<ChildProcess>(relayguardBinary(), args, log_file_);
  const bool up = process_->waitForPort("127.0.0.1", port_, 10s) &&
                  waitUntil(
                      [&] {
                        // The ready event, in the text or the JSON log format.
                        const std::string log = readFile(log_file_);
                        return log.find("event=ready ", log_start) != std::string::npos ||
                               log.find("\"event\":\"ready\"", log_start) != std::string::npos;
                      },
                      10s);
  if (!up) {
    throw std::runtime_error("relayguard serve did not become ready on port " +
                             std::to_string(port_) + "; log:\n" + readFile(log_file_));
  }
}

ChildProcess& Relay::process() {
  if (!process_) {
    throw std::runtime_error("relay not started");
  }
  return *process_;
}

void Relay::kill9() {
  if (process_) {
    process_->kill9();
  }
}

std::optional<int> Relay::terminate(std::chrono::milliseconds timeout) {
  process().signal(SIGTERM);
  return process().wait(timeout);
}

CommandResult Relay::cli(std::vector<std::string> args) const {
  args.push_back("--config");
  args.push_back(config_file_.string());
  return runCommand(relayguardBinary(), args, 20s);
}

nlohmann::json Relay::queueList() const {
  const CommandResult r = cli({"queue", "list", "--json"});
  if (r.exit_status != 0) {
    throw std::runtime_error("queue list --json exited " + std::to_string(r.exit_status) + ": " +
                             r.err);
  }
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (!j.is_array()) {
    throw std::runtime_error("queue list --json printed no JSON array: " + r.out);
  }
  return j;
}

bool Relay::waitForQueueSize(std::size_t n, std::chrono::milliseconds timeout) const {
  return waitUntil([&] { return queueList().size() == n; }, timeout);
}

std::unique_ptr<SmtpTestClient> Relay::client(const std::string& source) const {
  auto c = std::make_unique<SmtpTestClient>();
  if (!c->connect("127.0.0.1", port_, source) || !c->greetAndEhlo()) {
    throw std::runtime_error("cannot open an SMTP session with the relay: " + c->lastError());
  }
  return c;
}

SmtpTransaction Relay::send(const std::string& from, const std::vector<std::string>& rcpts,
                            std::string_view message, const std::string& mail_params) const {
  auto c = client();
  SmtpTransaction t = c->sendMail(from, rcpts, message, mail_params);
  c->command("QUIT");
  return t;
}

Sink::Sink(std::filesystem::path folder, std::uint16_t port)
    : folder_(std::move(folder)),
      maildir_(folder_ / "maildir"),
      log_file_(folder_ / "sink.log"),
      port_(port) {
  std::filesystem::create_directories(folder_);
}

void Sink::start() {
  process_ = std::make_unique<ChildProcess>(
      relayguardBinary(),
      std::vector<std::string>{"sink", "--listen", "127.0.0.1:" + std::to_string(port_),
                               "--maildir", maildir_.string()},
      log_file_);
  if (!process_->waitForPort("127.0.0.1", port_, 10s)) {
    throw std::runtime_error("relayguard sink did not listen on port " + std::to_string(port_) +
                             "; log:\n" + readFile(log_file_));
  }
}

void Sink::stop() {
  if (process_) {
    process_->kill9();
  }
}

std::vector<std::string> Sink::messages() const {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(maildir_, ec)) {
    if (e.path().extension() == ".eml") {
      files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> out;
  for (const auto& f : files) {
    out.push_back(readFile(f));
  }
  return out;
}

bool Sink::waitForMessages(std::size_t n, std::chrono::milliseconds timeout) const {
  return waitUntil([&] { return messages().size() >= n; }, timeout);
}

std::string makeMessage(const std::string& from, const std::string& to, const std::string& subject,
                        const std::string& body) {
  return "From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + subject + "\r\nMessage-ID: <" +
         std::to_string(std::hash<std::string>{}(subject)) + "@integ.test>\r\n\r\n" + body;
}

std::string makeMessageWithAttachment(const std::string& subject, const std::string& filename,
                                      const std::string& base64_lines) {
  return "From: app@example.test\r\nTo: user@example.test\r\nSubject: " + subject +
         "\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"xx\"\r\n\r\n"
         "--xx\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
         "--xx\r\nContent-Type: application/octet-stream\r\n"
         "Content-Disposition: attachment; filename=\"" +
         filename + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64_lines + "--xx--\r\n";
}

void IntegrationTest::TearDown() {
  if (!HasFailure()) {
    return;
  }
  for (const auto& r : relays_) {
    std::cerr << "---- " << r->logFile().string() << " ----\n"
              << tail(readFile(r->logFile()), 200) << "---- end of relay log ----\n";
  }
  for (const auto& s : sinks_) {
    std::cerr << "---- " << s->logFile().string() << " ----\n"
              << tail(readFile(s->logFile()), 100) << "---- end of sink log ----\n";
  }
}

Relay& IntegrationTest::makeRelay(RelayOptions options) {
  const auto folder = dir_.path() / ("relay" + std::to_string(relays_.size() + 1));
  relays_.push_back(std::make_unique<Relay>(folder, std::move(options)));
  return *relays_.back();
}

Relay& IntegrationTest::startRelay(RelayOptions options) {
  Relay& r = makeRelay(std::move(options));
  r.start();
  return r;
}

Sink& IntegrationTest::makeSink(std::uint16_t port) {
  const auto folder = dir_.path() / ("sink" + std::to_string(sinks_.size() + 1));
  sinks_.push_back(std::make_unique<Sink>(folder, port));
  return *sinks_.back();
}

Sink& IntegrationTest::startSink(std::uint16_t port) {
  Sink& s = makeSink(port);
  s.start();
  return s;
}

}  // namespace relayguard::test
