// bench/loadgen.cpp: the benchmark's SMTP load tool (relayguard-loadgen), one single-threaded
// Asio event loop per process, so that driving 20 parallel sessions at well over a thousand
// messages per second costs a small part of one core and leaves the rest to the relay measured.
//
//   send  --connect IP:PORT --message FILE --count N --concurrency C [--source IP]...
//         N SMTP sessions of one message each, C at a time (like smtp-source -s C -m N);
//         prints one JSON object: replies by code, latency from the end of DATA ("." sent) to
//         the reply, whole-session time, first send and last reply on CLOCK_MONOTONIC, own CPU.
//   sink  --listen IP:PORT
//         accepts any mail and throws it away (PIPELINING, many messages per connection); for
//         every line read on stdin prints {"messages":N,"bytes":B,"last_ns":T,...} (T:
//         CLOCK_MONOTONIC of the last end of DATA; also counts of messages carrying a
//         DKIM-Signature: or an X-Virus-Status: header field), exits at end of stdin.
//   idle  --connect IP:PORT --connections N [--source IP]... [--ehlo]
//         opens N connections (round robin over the source addresses), reads each banner (and
//         says EHLO), then holds them silently; prints {"open":K,"failed":F,...} once all are up
//         and again for every line read on stdin; exits (closing them all) at end of stdin.
//
// Times are std::chrono::steady_clock, which is CLOCK_MONOTONIC on Linux, so the harness can
// compare them with time.monotonic_ns() and with each other across processes.
#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <asio.hpp>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <unistd.h>

namespace {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using Json = nlohmann::json;

std::int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

tcp::endpoint parseEndpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    throw std::invalid_argument("not IP:PORT: " + text);
  }
  return {asio::ip::make_address(text.substr(0, colon)),
          static_cast<unsigned short>(std::stoi(text.substr(colon + 1)))};
}

struct Options {
  std::string mode;
  std::string connect;
  std::string listen;
  std::string message_file;
  std::vector<std::string> sources;
  std::size_t count = 100;
  std::size_t concurrency = 20;
  std::size_t connections = 1000;
  bool ehlo = false;
  int timeout_s = 600;
};

Options parseOptions(int argc, char** argv) {
  if (argc < 2) {
    throw std::invalid_argument("usage: relayguard-loadgen send|sink|idle [options]");
  }
  Options o;
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string key = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        throw std::invalid_argument(key + " needs a value");
      }
      return argv[++i];
    };
    if (key == "--connect") {
      o.connect = value();
    } else if (key == "--listen") {
      o.listen = value();
    } else if (key == "--message") {
      o.message_file = value();
    } else if (key == "--source") {
      o.sources.push_back(value());
    } else if (key == "--count") {
      o.count = std::stoul(value());
    } else if (key == "--concurrency") {
      o.concurrency = std::stoul(value());
    } else if (key == "--connections") {
      o.connections = std::stoul(value());
    } else if (key == "--timeout") {
      o.timeout_s = std::stoi(value());
    } else if (key == "--ehlo") {
      o.ehlo = true;
    } else {
      throw std::invalid_argument("unknown option " + key);
    }
  }
  return o;
}

Json cpuUsage() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return {{"user_s", static_cast<double>(u.ru_utime.tv_sec) + u.ru_utime.tv_usec / 1e6},
          {"sys_s", static_cast<double>(u.ru_stime.tv_sec) + u.ru_stime.tv_usec / 1e6},
          {"max_rss_kib", u.ru_maxrss}};
}

Json percentiles(std::vector<double> values) {
  if (values.empty()) {
    return Json::object();
  }
  std::sort(values.begin(), values.end());
  auto rank = [&](double q) {
    // Nearest rank: the smallest value with at least q of the samples at or below it.
    auto index = static_cast<std::size_t>(q * static_cast<double>(values.size()) + 0.999999);
    index = std::clamp<std::size_t>(index, 1, values.size());
    return values[index - 1];
  };
  double sum = 0;
  for (double v : values) {
    sum += v;
  }
  return {{"p50", rank(0.50)},
          {"p90", rank(0.90)},
          {"p99", rank(0.99)},
          {"max", values.back()},
          {"mean", sum / static_cast<double>(values.size())},
          {"n", values.size()}};
}

// Reads one SMTP reply (all its lines) and returns its code; 0 if it is not a reply.
awaitable<int> readReply(tcp::socket& socket, std::string& buffer) {
  for (;;) {
    const std::size_t n = co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer),
                                                          "\r\n", use_awaitable);
    const std::string line = buffer.substr(0, n);
    buffer.erase(0, n);
    if (line.size() < 5 || line[3] != '-') {
      co_return line.size() >= 3 ? std::atoi(line.substr(0, 3).c_str()) : 0;
    }
  }
}

awaitable<int> command(tcp::socket& socket, std::string& buffer, const std::string& line) {
  co_await asio::async_write(socket, asio::buffer(line), use_awaitable);
  const int code = co_await readReply(socket, buffer);
  co_return code;
}

// ---- send ----

struct SendState {
  SendState(const Options& o, tcp::endpoint t, std::string b)
      : options(o), target(std::move(t)), body(std::move(b)) {}
  const Options& options;
  tcp::endpoint target;
  std::string body;  // dot-stuffed, CRLF line ends, ends with CRLF
  std::size_t next = 0;
  std::size_t source_next = 0;
  std::map<int, std::size_t> replies;  // code of the reply to the end of DATA
  std::map<std::string, std::size_t> errors;
  std::vector<double> latency_ms;
  std::vector<double> session_ms;
  std::int64_t first_send_ns = 0;
  std::int64_t last_reply_ns = 0;
  std::size_t workers_done = 0;
};

std::string loadMessage(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read " + file);
  }
  std::stringstream raw;
  raw << in.rdbuf();
  // Normalise to CRLF and dot-stuff, once, so that every send is a plain write.
  std::string out;
  const std::string text = raw.str();
  bool line_start = true;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (line_start && c == '.') {
      out += '.';
    }
    if (c == '\n' && (i == 0 || text[i - 1] != '\r')) {
      out += '\r';
    }
    out += c;
    line_start = c == '\n';
  }
  if (!line_start) {
    out += "\r\n";
  }
  return out;
}

awaitable<void> sendOne(SendState& st, std::size_t index) {
  const std::int64_t begin = nowNs();
  if (st.first_send_ns == 0) {
    st.first_send_ns = begin;
  }
  auto executor = co_await asio::this_coro::executor;
  tcp::socket socket(executor);
  socket.open(st.target.protocol());
  if (!st.options.sources.empty()) {
    const auto& source = st.options.sources[st.source_next++ % st.options.sources.size()];
    socket.bind(tcp::endpoint(asio::ip::make_address(source), 0));
  }
  co_await socket.async_connect(st.target, use_awaitable);
  socket.set_option(tcp::no_delay(true));
  std::string buffer;
  const int banner = co_await readReply(socket, buffer);
  if (banner != 220) {
    throw std::runtime_error("banner " + std::to_string(banner));
  }
  const std::vector<std::pair<std::string, int>> steps = {
      {"EHLO loadgen.bench.test\r\n", 250},
      {"MAIL FROM:<bench@example.test>\r\n", 250},
      {"RCPT TO:<sink@sink.test>\r\n", 250},
      {"DATA\r\n", 354}};
  for (const auto& [line, want] : steps) {
    const int code = co_await command(socket, buffer, line);
    if (code != want) {
      throw std::runtime_error(line.substr(0, 4) + " " + std::to_string(code));
    }
  }
  const std::string message_id = "Message-ID: <" + std::to_string(index) + "." +
                                 std::to_string(begin) + "@loadgen.bench.test>\r\n";
  const std::string terminator = ".\r\n";
  const std::array<asio::const_buffer, 3> data = {asio::buffer(message_id), asio::buffer(st.body),
                                                  asio::buffer(terminator)};
  co_await asio::async_write(socket, data, use_awaitable);
  const std::int64_t sent = nowNs();
  const int code = co_await readReply(socket, buffer);
  const std::int64_t replied = nowNs();
  st.replies[code]++;
  if (code == 250) {
    st.latency_ms.push_back(static_cast<double>(replied - sent) / 1e6);
    st.last_reply_ns = std::max(st.last_reply_ns, replied);
  }
  const int quit = co_await command(socket, buffer, "QUIT\r\n");
  static_cast<void>(quit);
  st.session_ms.push_back(static_cast<double>(nowNs() - begin) / 1e6);
}

awaitable<void> sendWorker(SendState& st) {
  while (st.next < st.options.count) {
    const std::size_t index = st.next++;
    try {
      co_await sendOne(st, index);
    } catch (const std::exception& e) {
      st.errors[e.what()]++;
    }
  }
  st.workers_done++;
}

int runSend(const Options& o) {
  asio::io_context io;
  SendState st(o, parseEndpoint(o.connect), loadMessage(o.message_file));
  st.latency_ms.reserve(o.count);
  st.session_ms.reserve(o.count);
  for (std::size_t i = 0; i < o.concurrency; ++i) {
    asio::co_spawn(io, sendWorker(st), asio::detached);
  }
  io.run_for(std::chrono::seconds(o.timeout_s));
  const bool finished = st.workers_done == o.concurrency;
  Json replies = Json::object();
  std::size_t accepted = 0;
  for (const auto& [code, n] : st.replies) {
    replies[std::to_string(code)] = n;
    if (code == 250) {
      accepted = n;
    }
  }
  const double seconds = static_cast<double>(st.last_reply_ns - st.first_send_ns) / 1e9;
  Json out = {{"mode", "send"},
              {"messages", o.count},
              {"concurrency", o.concurrency},
              {"message_bytes", st.body.size()},
              {"accepted", accepted},
              {"replies", replies},
              {"errors", st.errors},
              {"timed_out", !finished},
              {"first_send_ns", st.first_send_ns},
              {"last_reply_ns", st.last_reply_ns},
              {"accept_per_s", seconds > 0 ? static_cast<double>(accepted) / seconds : 0.0},
              {"latency_ms", percentiles(st.latency_ms)},
              {"session_ms", percentiles(st.session_ms)},
              {"cpu", cpuUsage()}};
  std::cout << out.dump() << std::endl;
  return 0;
}

// ---- sink ----

struct SinkState {
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  std::int64_t last_ns = 0;
  std::uint64_t connections = 0;
  std::uint64_t dkim_signed = 0;   // messages with a DKIM-Signature: header field
  std::uint64_t virus_status = 0;  // messages with clamav-milter's X-Virus-Status: field
};

std::string upperVerb(const std::string& line) {
  std::string verb = line.substr(0, std::min<std::size_t>(4, line.size()));
  for (char& c : verb) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return verb;
}

awaitable<void> sinkSession(tcp::socket socket, SinkState& st) {
  try {
    socket.set_option(tcp::no_delay(true));
    std::string buffer;
    // Capacity makes async_read_until read up to 64 KiB at a time instead of 512 bytes.
    buffer.reserve(256 * 1024);
    st.connections++;
    co_await asio::async_write(socket, asio::buffer(std::string("220 sink.bench.test ESMTP\r\n")),
                               use_awaitable);
    // Replies to pipelined commands go out together, once no complete command is left in the
    // buffer (RFC 2920 3.2, as Postfix's smtpd does), and always before the message is awaited.
    std::string replies;
    for (;;) {
      const std::size_t n = co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer),
                                                            "\r\n", use_awaitable);
      const std::string verb = upperVerb(buffer.substr(0, n));
      buffer.erase(0, n);
      if (verb == "EHLO") {
        replies +=
            "250-sink.bench.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 0\r\n250 OK\r\n";
      } else if (verb == "DATA") {
        replies += "354 go ahead\r\n";
        co_await asio::async_write(socket, asio::buffer(replies), use_awaitable);
        replies.clear();
        std::size_t size = 0;
        if (buffer.rfind(".\r\n", 0) == 0) {
          size = 3;
        } else {
          size = co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer), "\r\n.\r\n",
                                                 use_awaitable);
        }
        // Proof that the relay's filters ran: their header fields, in the header section.
        const std::string_view message(buffer.data(), size);
        const std::string_view header = message.substr(0, message.find("\r\n\r\n"));
        if (header.find("DKIM-Signature:") != std::string_view::npos) {
          st.dkim_signed++;
        }
        if (header.find("X-Virus-Status:") != std::string_view::npos) {
          st.virus_status++;
        }
        buffer.erase(0, size);
        st.messages++;
        st.bytes += size;
        st.last_ns = nowNs();
        replies += "250 2.0.0 queued\r\n";
      } else if (verb == "QUIT") {
        replies += "221 2.0.0 bye\r\n";
        co_await asio::async_write(socket, asio::buffer(replies), use_awaitable);
        co_return;
      } else {
        replies += "250 2.0.0 OK\r\n";  // HELO, MAIL, RCPT, RSET, NOOP
      }
      if (buffer.find("\r\n") == std::string::npos) {
        co_await asio::async_write(socket, asio::buffer(replies), use_awaitable);
        replies.clear();
      }
    }
  } catch (const std::exception&) {
    // The peer went away: nothing to count.
  }
}

awaitable<void> sinkAccept(tcp::acceptor& acceptor, SinkState& st) {
  for (;;) {
    tcp::socket socket = co_await acceptor.async_accept(use_awaitable);
    asio::co_spawn(acceptor.get_executor(), sinkSession(std::move(socket), st), asio::detached);
  }
}

// Answers every line on stdin with a status line (a JSON object) from `status`; stops `io` at
// the end of stdin.
template <typename Status>
awaitable<void> stdinControl(asio::io_context& io, Status status) {
  asio::posix::stream_descriptor in(io, ::dup(0));
  std::string buffer;
  try {
    for (;;) {
      const std::size_t n =
          co_await asio::async_read_until(in, asio::dynamic_buffer(buffer), "\n", use_awaitable);
      buffer.erase(0, n);
      std::cout << status().dump() << std::endl;
    }
  } catch (const std::exception&) {
  }
  io.stop();
}

int runSink(const Options& o) {
  asio::io_context io;
  tcp::acceptor acceptor(io);
  const auto endpoint = parseEndpoint(o.listen);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(4096);
  SinkState st;
  asio::co_spawn(io, sinkAccept(acceptor, st), asio::detached);
  asio::co_spawn(io,
                 stdinControl(io,
                              [&st] {
                                return Json{{"messages", st.messages},
                                            {"bytes", st.bytes},
                                            {"last_ns", st.last_ns},
                                            {"connections", st.connections},
                                            {"dkim_signed", st.dkim_signed},
                                            {"virus_status", st.virus_status},
                                            {"cpu", cpuUsage()}};
                              }),
                 asio::detached);
  io.run();
  return 0;
}

// ---- idle ----

struct IdleState {
  IdleState(const Options& o, tcp::endpoint t) : options(o), target(std::move(t)) {}
  const Options& options;
  tcp::endpoint target;
  std::size_t next = 0;
  std::size_t open = 0;
  std::size_t failed = 0;
  std::size_t closed_by_peer = 0;
  std::map<std::string, std::size_t> errors;
  std::vector<double> banner_ms;
  std::vector<std::unique_ptr<tcp::socket>> held;
};

awaitable<void> idleWatch(IdleState& st, tcp::socket& socket) {
  // Any read that completes means the relay spoke (a timeout reply) or closed: no longer idle.
  std::array<char, 512> scratch{};
  try {
    for (;;) {
      co_await socket.async_read_some(asio::buffer(scratch), use_awaitable);
    }
  } catch (const std::exception&) {
  }
  st.open--;
  st.closed_by_peer++;
}

awaitable<void> idleOpener(IdleState& st) {
  auto executor = co_await asio::this_coro::executor;
  while (st.next < st.options.connections) {
    const std::size_t index = st.next++;
    try {
      auto socket = std::make_unique<tcp::socket>(executor);
      socket->open(st.target.protocol());
      if (!st.options.sources.empty()) {
        const auto& source = st.options.sources[index % st.options.sources.size()];
        socket->bind(tcp::endpoint(asio::ip::make_address(source), 0));
      }
      const std::int64_t begin = nowNs();
      co_await socket->async_connect(st.target, use_awaitable);
      std::string buffer;
      const int banner = co_await readReply(*socket, buffer);
      if (banner != 220) {
        throw std::runtime_error("banner " + std::to_string(banner));
      }
      st.banner_ms.push_back(static_cast<double>(nowNs() - begin) / 1e6);
      if (st.options.ehlo) {
        const int code = co_await command(*socket, buffer, "EHLO idle.bench.test\r\n");
        if (code != 250) {
          throw std::runtime_error("EHLO " + std::to_string(code));
        }
      }
      st.open++;
      st.held.push_back(std::move(socket));
      asio::co_spawn(executor, idleWatch(st, *st.held.back()), asio::detached);
    } catch (const std::exception& e) {
      st.failed++;
      st.errors[e.what()]++;
    }
  }
}

int runIdle(const Options& o) {
  asio::io_context io;
  IdleState st(o, parseEndpoint(o.connect));
  st.held.reserve(o.connections);
  auto status = [&st] {
    return Json{{"open", st.open},
                {"failed", st.failed},
                {"closed_by_peer", st.closed_by_peer},
                {"errors", st.errors},
                {"banner_ms", percentiles(st.banner_ms)},
                {"cpu", cpuUsage()}};
  };
  // Open with bounded parallelism so that the accept backlog never overflows.
  const std::size_t openers = std::min<std::size_t>(o.concurrency, o.connections);
  auto done = std::make_shared<std::size_t>(0);
  for (std::size_t i = 0; i < openers; ++i) {
    asio::co_spawn(io, idleOpener(st), [&, done](std::exception_ptr) {
      if (++*done == openers) {
        std::cout << status().dump() << std::endl;
        asio::co_spawn(io, stdinControl(io, status), asio::detached);
      }
    });
  }
  io.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options options = parseOptions(argc, argv);
    if (options.mode == "send") {
      return runSend(options);
    }
    if (options.mode == "sink") {
      return runSink(options);
    }
    if (options.mode == "idle") {
      return runIdle(options);
    }
    std::cerr << "relayguard-loadgen: unknown mode " << options.mode << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "relayguard-loadgen: " << e.what() << "\n";
    return 1;
  }
}
