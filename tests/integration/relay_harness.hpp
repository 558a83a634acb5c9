// relay_harness: what the integration tests need around the real build/relayguard binary: a
// scratch folder, a relay with its own config file, spool and loopback port (started as
// `relayguard serve`), the demo sink (`relayguard sink`), CLI runs against the relay's config,
// and a fixture that prints every process log when a test fails.
//
// Helpers throw std::runtime_error (with the process log) when something the test relies on
// cannot be set up; GoogleTest reports that as a failure of the test.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/child_process.hpp"
#include "tests/support/smtp_test_client.hpp"
#include "tests/support/temp_dir.hpp"

namespace relayguard::test {

// Path of the relayguard binary under test, set by CMake.
const std::string& relayguardBinary();

// Polls `done` every 20 ms until it is true or `timeout` passes; returns its last value.
bool waitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout);

// A fresh folder below the system temp directory, removed with its contents at the end.
using ScratchDir = TempDir;

std::string readFile(const std::filesystem::path& path);

// Every line of the audit log in `dir` (<spool>/audit), parsed, in log order.
std::vector<nlohmann::json> auditLines(const std::filesystem::path& dir);

struct RelayOptions {
  std::string hostname = "relay.integ.test";
  std::vector<std::string> relay_networks = {"127.0.0.0/8"};
  std::vector<std::string> smart_hosts;  // "127.0.0.1:port"
  // Lines of the [[route]] table after domains and smart_hosts (tls, credentials, ...).
  std::vector<std::string> route = {"tls = \"none\""};
  std::vector<std::string> limits;       // "key = value" lines for [limits]
  std::vector<std::string> delivery = {  // "key = value" lines for [delivery]
      "retry = [\"1s\"]", "max_age = \"1d\"", "connect_timeout = \"2s\"",
      "command_timeout = \"5s\"", "idle_reuse = \"1s\""};
  std::filesystem::path spool_dir;        // empty: <folder>/spool
  std::vector<std::string> serve_args;    // extra arguments to `serve`
  std::vector<std::string> extra_config;  // lines appended to the config (e.g. an [audit] table)
  std::vector<std::string> access;        // more "key = value" lines for [access]
  // Modes ("submission", "smtps", "relay") of more listeners, each on its own loopback port
  // (Relay::listenerPort(i)), after the relay listener on port().
  std::vector<std::string> extra_listeners;
  // "key = value" lines added to every extra listener (e.g. proxy_protocol = true).
  std::vector<std::string> extra_listener_lines;
};

// One relay: <folder>/relayguard.toml, <folder>/rules, <folder>/spool, <folder>/relay.log.
class Relay {
 public:
  Relay(std::filesystem::path folder, RelayOptions options);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Starts `relayguard serve` and waits until it accepts connections and has logged that it is
  // ready. Throws (with the log) when it is not ready within 10 s.
  void start();
  ChildProcess& process();
  bool running() const { return process_ != nullptr && process_->running(); }
  void kill9();
  // SIGTERM, then the exit status within `timeout` (nullopt: still running).
  std::optional<int> terminate(std::chrono::milliseconds timeout);

  std::uint16_t port() const { return port_; }
  // The port of extra_listeners[i].
  std::uint16_t listenerPort(std::size_t i) const { return extra_ports_.at(i); }
  const std::filesystem::path& configFile() const { return config_file_; }
  const std::filesystem::path& spoolDir() const { return spool_dir_; }
  const std::filesystem::path& logFile() const { return log_file_; }

  // `relayguard ARGS... --config <config file>`.
  CommandResult cli(std::vector<std::string> args) const;
  // `queue list --json`, parsed; throws when it fails or is not a JSON array.
  nlohmann::json queueList() const;
  // Waits until `queue list --json` holds exactly n messages.
  bool waitForQueueSize(std::size_t n, std::chrono::milliseconds timeout) const;

  // A connected client that has read the greeting and sent EHLO; throws if that fails.
  std::unique_ptr<SmtpTestClient> client(const std::string& source = "") const;
  // One complete transaction on a fresh connection.
  SmtpTransaction send(const std::string& from, const std::vector<std::string>& rcpts,
                       std::string_view message, const std::string& mail_params = "") const;

 private:
  std::filesystem::path folder_;
  std::filesystem::path config_file_;
  std::filesystem::path spool_dir_;
  std::filesystem::path log_file_;
  std::uint16_t port_ = 0;
  std::vector<std::uint16_t> extra_ports_;
  RelayOptions options_;
  std::unique_ptr<ChildProcess> process_;
};

// `relayguard sink` on 127.0.0.1:port storing into <folder>/maildir.
class Sink {
 public:
  Sink(std::filesystem::path folder, std::uint16_t port);
  void start();
  void stop();
  std::uint16_t port() const { return port_; }
  const std::filesystem::path& logFile() const { return log_file_; }
  // The stored files' contents, in file-name order.
  std::vector<std::string> messages() const;
  bool waitForMessages(std::size_t n, std::chrono::milliseconds timeout) const;

 private:
  std::filesystem::path folder_;
  std::filesystem::path maildir_;
  std::filesystem::path log_file_;
  std::uint16_t port_;
  std::unique_ptr<ChildProcess> process_;
};

// A plain RFC 5322 message with CRLF line ends.
std::string makeMessage(const std::string& from, const std::string& to, const std::string& subject,
                        const std::string& body);
// A multipart message from app@example.test to user@example.test: a short text part and one
// attachment named `filename` whose base64 lines (CRLF-ended) are `base64_lines`.
std::string makeMessageWithAttachment(const std::string& subject, const std::string& filename,
                                      const std::string& base64_lines);

// Base fixture: a scratch folder per test, relays and sinks made in it, and their logs printed
// when the test has failed.
class IntegrationTest : public ::testing::Test {
 protected:
  void TearDown() override;
  Relay& makeRelay(RelayOptions options);
  Relay& startRelay(RelayOptions options);
  Sink& startSink(std::uint16_t port);
  Sink& makeSink(std::uint16_t port);

  ScratchDir dir_;
  std::vector<std::unique_ptr<Relay>> relays_;
  std::vector<std::unique_ptr<Sink>> sinks_;
};

}  // namespace relayguard::test
