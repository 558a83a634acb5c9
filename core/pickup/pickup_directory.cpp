// pickup_directory: scanning the pickup folder (see pickup_directory.hpp).
#include "core/pickup/pickup_directory.hpp"

#include <algorithm>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include "core/pickup/pickup_file.hpp"
#include "core/util/blocking.hpp"
#include "core/util/durable_file.hpp"
#include "core/util/log_event.hpp"
#include "core/util/strings.hpp"
#include "core/util/time_format.hpp"

namespace relayguard {
namespace {

constexpr auto kUseTuple = asio::experimental::as_tuple(asio::use_awaitable);

bool isPickupName(const std::filesystem::path& p) {
  const std::string name = p.filename().string();
  return name.size() > 4 && iequals(std::string_view(name).substr(name.size() - 4), ".eml");
}

void makeDir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    throw std::runtime_error("cannot create " + dir.string() + ": " + ec.message());
  }
}

}  // namespace

PickupDirectory::PickupDirectory(asio::io_context& io, const Config& config,
                                 const PickupConfig& pickup, smtp::MessageHandler& handler,
                                 asio::thread_pool& blocking)
    : io_(io),
      config_(config),
      pickup_(pickup),
      handler_(handler),
      blocking_(blocking),
      timer_(io) {}

void PickupDirectory::start() {
  makeDir(pickup_.directory);
  makeDir(pickup_.badmail);
  log::info("pickup_watching",
            {{"directory", pickup_.directory.string()}, {"badmail", pickup_.badmail.string()}});
  asio::co_spawn(io_, loop(), logFailure("pickup directory"));
}

void PickupDirectory::stop() {
  asio::post(io_, [this] {
    stopped_ = true;
    timer_.cancel();
  });
}

asio::awaitable<void> PickupDirectory::loop() {
  while (!stopped_) {
    co_await scan();
    timer_.expires_after(pickup_.interval);
    co_await timer_.async_wait(kUseTuple);
  }
}

std::vector<std::filesystem::path> PickupDirectory::settledFiles() {
  std::vector<std::filesystem::path> ready;
  std::map<std::string, Seen> now;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(pickup_.directory, ec)) {
    std::error_code fec;
    if (!isPickupName(entry.path()) || !entry.is_regular_file(fec)) {
      continue;
    }
    const Seen seen{entry.file_size(fec), entry.last_write_time(fec)};
    if (fec) {
      continue;  // gone meanwhile
    }
    const std::string name = entry.path().filename().string();
    const auto before = seen_.find(name);
    if (before != seen_.end() && before->second.size == seen.size &&
        before->second.mtime == seen.mtime) {
      ready.push_back(entry.path());
    }
    now.emplace(name, seen);
  }
  if (ec) {
    log::error("pickup_unreadable",
               {{"directory", pickup_.directory.string()}, {"error", ec.message()}});
  }
  seen_ = std::move(now);
  std::sort(ready.begin(), ready.end());
  return ready;
}

asio::awaitable<void> PickupDirectory::scan() {
  const auto files = co_await runBlocking(blocking_, [this] { return settledFiles(); });
  for (const auto& file : files) {
    if (stopped_) {
      co_return;
    }
    try {
      co_await take(file);
    } catch (const std::exception& e) {
      // One file must never stop the folder: it stays where it is for the next scan.
      log::error("pickup_left", {{"file", file.filename().string()}, {"error", e.what()}});
    }
  }
}

asio::awaitable<void> PickupDirectory::take(const std::filesystem::path& file) {
  std::optional<PickupMessage> parsed;
  std::string problem;
  co_await runBlocking(blocking_, [this, &file, &parsed, &problem] {
    try {
      parsed = loadPickupFile(file, config_.limits.max_message_size);
    } catch (const PickupError& e) {
      problem = e.what();
    }
  });
  if (!parsed) {
    log::warn("pickup_refused", {{"file", file.filename().string()}, {"reason", problem}});
    co_await runBlocking(blocking_, [this, &file, &problem] { toBadmail(file, problem); });
    co_return;
  }
  for (const auto& r : parsed->rcpt_to) {
    if (config_.routeFor(r.domain()) == nullptr) {
      problem = "no route for recipient " + r.bracketed();
    }
  }
  if (!problem.empty()) {
    log::warn("pickup_refused", {{"file", file.filename().string()}, {"reason", problem}});
    co_await runBlocking(blocking_, [this, &file, &problem] { toBadmail(file, problem); });
    co_return;
  }
  Envelope envelope;
  envelope.mail_from = parsed->mail_from;
  envelope.rcpt_to = parsed->rcpt_to;
  envelope.helo = "pickup";
  envelope.body_8bit = parsed->body_8bit;
  envelope.received = std::chrono::system_clock::now();
  const PagedBytes data(parsed->data);
  const smtp::Reply reply = co_await handler_.handleMessage(envelope, data);
  const std::string answer = reply.oneLine();
  if (reply.positive()) {
    log::info("pickup_taken", {{"file", file.filename().string()}, {"reply", answer}});
    co_await runBlocking(blocking_, [this, &file] {
      std::filesystem::remove(file);
      fsyncDirectory(pickup_.directory);
    });
    seen_.erase(file.filename().string());
  } else if (reply.code >= 500) {
    log::warn("pickup_refused", {{"file", file.filename().string()}, {"reason", answer}});
    co_await runBlocking(blocking_, [this, &file, &answer] { toBadmail(file, answer); });
  } else {
    log::warn("pickup_deferred", {{"file", file.filename().string()}, {"reply", answer}});
  }
}

void PickupDirectory::toBadmail(const std::filesystem::path& file, const std::string& reason) {
  std::string name = file.filename().string();
  for (int n = 1; std::filesystem::exists(pickup_.badmail / name); ++n) {
    name = file.stem().string() + "-" + std::to_string(n) + file.extension().string();
  }
  const auto target = pickup_.badmail / name;
  const auto reason_file = pickup_.badmail / (name + ".reason");
  writeFileDurably(pickup_.badmail / ("." + name + ".reason.tmp"), reason_file,
                   "File: " + file.filename().string() + "\nTime: " +
                       rfc3339(std::chrono::system_clock::now()) + "\nReason: " + reason + "\n",
                   0640);
  std::error_code ec;
  std::filesystem::rename(file, target, ec);
  if (ec) {  // another filesystem: copy, then remove
    std::filesystem::copy_file(file, target, ec);
    if (!ec) {
      std::filesystem::remove(file, ec);
    }
  }
  if (ec) {
    log::error("pickup_badmail_failed", {{"file", file.string()}, {"error", ec.message()}});
    return;
  }
  fsyncDirectory(pickup_.badmail);
  fsyncDirectory(pickup_.directory);
  seen_.erase(file.filename().string());
}

}  // namespace relayguard
