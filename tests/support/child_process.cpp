// child_process: fork/exec, log capture, port waiting and reaping for tests (see
// child_process.hpp). Everything the child runs between fork and exec is async-signal-safe,
// because the test process has other threads (scripted SMTP servers) running.
#include "tests/support/child_process.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace relayguard::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string readWholeFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

int maxFd() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) {
    return 4096;
  }
  return static_cast<int>(std::min<rlim_t>(lim.rlim_cur, 65536));
}

// Starts the program with the given descriptors as its stdin, stdout and stderr.
pid_t spawn(const std::string& program, const std::vector<std::string>& args, int in_fd, int out_fd,
            int err_fd) {
  // Everything the child needs is prepared before fork: it may only call async-signal-safe
  // functions afterwards.
  std::vector<std::string> argv_storage;
  argv_storage.push_back(program);
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  const int limit = maxFd();
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) {
    throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid > 0) {
    return pid;
  }
  // Child.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) {
    ::_exit(127);  // the test process died before prctl took effect
  }
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &dfl, nullptr);
  if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) {
    ::_exit(127);
  }
  for (int fd = 3; fd < limit; ++fd) {
    ::close(fd);
  }
  ::execv(argv[0], argv.data());
  ::_exit(127);
}

int openOrThrow(const std::filesystem::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw std::runtime_error("cannot open " + path.string() + ": " + std::strerror(errno));
  }
  return fd;
}

std::filesystem::path makeTempFile(const char* what) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / ("relayguard-cmd-" + std::string(what) + "-XXXXXX"))
          .string();
  const int fd = ::mkostemp(pattern.data(), O_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error("mkostemp failed for " + pattern);
  }
  ::close(fd);
  return pattern;
}

}  // namespace

std::uint16_t freeLoopbackPort() {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    throw std::runtime_error("socket failed");
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error("bind 127.0.0.1:0 failed");
  }
  socklen_t len = sizeof addr;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("getsockname failed");
  }
  return ntohs(addr.sin_port);
}

bool canConnect(const std::string& host, std::uint16_t port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    return false;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return false;
  }
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

int decodeWaitStatus(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    return 128 + WTERMSIG(status);
  }
  return -1;
}

ChildProcess::ChildProcess(std::string program, std::vector<std::string> args,
                           std::filesystem::path log_file)
    : program_(std::move(program)), log_file_(std::move(log_file)) {
  const Fd in(openOrThrow("/dev/null", O_RDONLY));
  const Fd log(openOrThrow(log_file_, O_WRONLY | O_CREAT | O_APPEND));
  pid_ = spawn(program_, args, in.get(), log.get(), log.get());
}

ChildProcess::~ChildProcess() {
  kill9();
}

bool ChildProcess::reap() {
  if (exit_status_) {
    return true;
  }
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_status_ = decodeWaitStatus(status);
    return true;
  }
  if (r < 0 && errno == ECHILD) {
    exit_status_ = -1;
    return true;
  }
  return false;
}

bool ChildProcess::running() {
  return !reap();
}

bool ChildProcess::waitForPort(const std::string& host, std::uint16_t port,
                               std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (!running()) {
      return false;
    }
    if (canConnect(host, port)) {
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

bool ChildProcess::waitForLog(const std::string& text, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (log().find(text) != std::string::npos) {
      return true;
    }
    if (!running() || Clock::now() >= deadline) {
      return log().find(text) != std::string::npos;
    }
    std::this_thread::sleep_for(10ms);
  }
}

void ChildProcess::signal(int sig) {
  if (running()) {
    ::kill(pid_, sig);
  }
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (reap()) {
      return exit_status_;
    }
    if (Clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(5ms);
  }
}

void ChildProcess::kill9() {
  if (pid_ <= 0 || reap()) {
    return;
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_status_ = decodeWaitStatus(status);
}

std::string ChildProcess::log() const {
  return readWholeFile(log_file_);
}

CommandResult runCommand(const std::string& program, const std::vector<std::string>& args,
                         std::chrono::milliseconds timeout,
                         const std::optional<std::string>& input) {
  const auto out_path = makeTempFile("out");
  const auto err_path = makeTempFile("err");
  std::filesystem::path in_path = "/dev/null";
  if (input) {
    in_path = makeTempFile("in");
    std::ofstream(in_path, std::ios::binary) << *input;
  }
  CommandResult result;
  pid_t pid = -1;
  {
    const Fd in(openOrThrow(in_path, O_RDONLY));
    const Fd out(openOrThrow(out_path, O_WRONLY | O_TRUNC));
    const Fd err(openOrThrow(err_path, O_WRONLY | O_TRUNC));
    pid = spawn(program, args, in.get(), out.get(), err.get());
  }
  const auto deadline = Clock::now() + timeout;
  int status = 0;
  bool finished = false;
  while (!finished) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      finished = true;
    } else if (Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    } else {
      std::this_thread::sleep_for(5ms);
    }
  }
  result.exit_status = finished ? decodeWaitStatus(status) : -1;
  result.out = readWholeFile(out_path);
  result.err = readWholeFile(err_path);
  if (!finished) {
    result.err += "\n[runCommand: killed after " + std::to_string(timeout.count()) + " ms]\n";
  }
  std::error_code ec;
  std::filesystem::remove(out_path, ec);
  std::filesystem::remove(err_path, ec);
  if (input) {
    std::filesystem::remove(in_path, ec);
  }
  return result;
}

}  // namespace relayguard::test
