// sink_command: `relayguard sink --listen ADDR --maildir DIR`, a small receiving SMTP server
// for demos and trials. It accepts every message and stores each as one file DIR/<id>.eml,
// written durably, with Return-Path: and X-Envelope-To: lines prepended. It is an open
// receiver by design: bind it to loopback only.
#include <thread>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/thread_pool.hpp>

#include "core/cli/commands.hpp"
#include "core/queue/queue_id.hpp"
#include "core/smtp/listener.hpp"
#include "core/util/blocking.hpp"
#include "core/util/durable_file.hpp"
#include "core/util/log_event.hpp"

namespace relayguard::cli {
namespace {

struct SinkArgs {
  std::string listen;
  std::string maildir;
};

class MaildirHandler : public smtp::MessageHandler {
 public:
  MaildirHandler(std::filesystem::path dir, asio::thread_pool& blocking)
      : dir_(std::move(dir)), blocking_(blocking) {}

  asio::awaitable<smtp::Reply> handleMessage(const Envelope& env,
                                             const PagedBytes& message) override {
    const auto id = queue::QueueId::generate().str();
    std::string rcpts;
    for (const auto& r : env.rcpt_to) {
      rcpts += (rcpts.empty() ? "" : ", ") + r.bracketed();
    }
    std::string data =
        "Return-Path: " + env.mail_from.bracketed() + "\r\nX-Envelope-To: " + rcpts + "\r\n";
    data += message.data;
    try {
      co_await runBlocking(blocking_, [this, &id, &data] {
        writeFileDurably(dir_ / ("." + id + ".tmp"), dir_ / (id + ".eml"), data, 0644);
      });
    } catch (const IoError& e) {
      log::error("sink_store_failed", {{"error", e.what()}});
      co_return smtp::Reply{451, "4.3.0", "cannot store message"};
    }
    log::info("sink_stored", {{"id", id},
                              {"from", env.mail_from.bracketed()},
                              {"to", rcpts},
                              {"size", message.data.size()}});
    co_return smtp::Reply{250, "2.0.0", "Ok: stored as " + id};
  }

 private:
  std::filesystem::path dir_;
  asio::thread_pool& blocking_;
};

int runSink(const SinkArgs& args) {
  const auto ep = net::Endpoint::parse(args.listen);
  if (!ep) {
    return fail("--listen: '" + args.listen + "' is not an address:port");
  }
  std::error_code ec;
  std::filesystem::create_directories(args.maildir, ec);
  if (ec) {
    return fail("--maildir: cannot create " + args.maildir + ": " + ec.message());
  }
  asio::io_context io;
  asio::thread_pool blocking(2);
  MaildirHandler handler(args.maildir, blocking);
  smtp::SessionSettings settings;
  settings.hostname = "sink.localhost";
  settings.limits.max_message_size = 1024ULL * 1024 * 1024;
  settings.limits.max_connections = 10000;
  settings.limits.max_connections_per_ip = 10000;
  settings.limits.max_recipients = 10000;
  ConnectionLimiter limiter(settings.limits.max_connections,
                            settings.limits.max_connections_per_ip);
  smtp::Listener listener(io, *ep, settings, handler, limiter);
  try {
    listener.start();
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const std::error_code&, int) {
    listener.stop();
    io.stop();
  });
  log::info("sink_ready", {{"maildir", args.maildir}});
  std::thread second([&io] { io.run(); });
  io.run();
  second.join();
  blocking.join();
  return 0;
}

}  // namespace

void addSinkCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto* cmd = app.add_subcommand("sink", "receive mail and store each message as a file");
  auto args = std::make_shared<SinkArgs>();
  cmd->add_option("--listen", args->listen, "address:port to listen on")->required();
  cmd->add_option("--maildir", args->maildir, "folder to store messages in")->required();
  cmd->callback([&global, &run, args] {
    run = [&global, args] {
      setUpLogging(global);
      return runSink(*args);
    };
  });
}

}  // namespace relayguard::cli
