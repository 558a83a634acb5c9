// child_process: runs other programs from a test, mainly the real build/relayguard binary.
//
// ChildProcess starts a long-running program (relayguard serve, relayguard sink) with its
// stdout and stderr appended to a log file, waits until it accepts TCP connections, sends it
// signals and reaps it with a timeout; a child still running when the object dies is killed with
// SIGKILL (and also when the test process itself dies: PR_SET_PDEATHSIG). runCommand() runs a
// short-lived program to completion and captures its output and exit status. freeLoopbackPort()
// finds a TCP port on 127.0.0.1 that nothing listens on.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace relayguard::test {

// Binds 127.0.0.1:0, reads the port the kernel chose and closes the socket again.
std::uint16_t freeLoopbackPort();

// True as soon as a TCP connection to host:port succeeds (it is closed again at once).
bool canConnect(const std::string& host, std::uint16_t port);

// An exit status as one number: the exit code, or 128 + the signal number when the process was
// killed by a signal (the shell's convention).
int decodeWaitStatus(int status);

class ChildProcess {
 public:
  // Starts `program` with `args` (argv[0] is the program itself). Throws std::runtime_error when
  // the log file cannot be opened or fork fails; an exec failure shows as exit status 127.
  ChildProcess(std::string program, std::vector<std::string> args, std::filesystem::path log_file);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // False once the process has exited (and has been reaped).
  bool running();
  // Waits until host:port accepts a connection. False on timeout or when the process exits first.
  bool waitForPort(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout);
  // Waits until the log file contains `text`. False on timeout or when the process exits first.
  bool waitForLog(const std::string& text, std::chrono::milliseconds timeout);
  void signal(int sig);
  // Waits for the process to exit; its status as decodeWaitStatus() gives it, or nullopt when it
  // is still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  // SIGKILL and reap; returns at once if the process has already exited.
  void kill9();
  // The exit status once the process has been reaped.
  std::optional<int> exitStatus() const { return exit_status_; }

  const std::filesystem::path& logFile() const { return log_file_; }
  std::string log() const;

 private:
  // Non-blocking reap: true once the process has exited.
  bool reap();

  std::string program_;
  std::filesystem::path log_file_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

struct CommandResult {
  int exit_status = -1;  // as decodeWaitStatus() gives it; -1 when it did not finish in time
  std::string out;       // everything written to stdout
  std::string err;       // everything written to stderr
};

// Runs `program` with `args` to completion (killing it after `timeout`), stdin from /dev/null or
// from `input` when given.
CommandResult runCommand(const std::string& program, const std::vector<std::string>& args,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30),
                         const std::optional<std::string>& input = std::nullopt);

}  // namespace relayguard::test
