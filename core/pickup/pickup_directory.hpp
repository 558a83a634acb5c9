// pickup_directory: the IIS-style pickup folder ([pickup] directory). Applications drop .eml
// files into it (as .NET's SpecifiedPickupDirectory and the IIS SMTP Service's Pickup folder
// expect); the relay takes each one through exactly the path of a message received over SMTP
// (the same MessageHandler: loop checks, the filter pipeline, the audit log, the queue).
//
//   - A file is taken once it has stopped changing: its size and modification time are the same
//     on two scans `interval` apart, so a file still being written is never read half-way.
//     Only regular files whose names end in .eml (any case) are taken; others are left alone.
//   - Accepted (the handler answered 2xx: queued or quarantined, durably): the file is removed,
//     and the directory fsynced. Nothing is removed before the message is safe, so a crash at
//     any point loses nothing; a crash between the queue commit and the removal delivers that
//     one message twice (at least once, as IIS did).
//   - Temporarily refused (4xx: disk full, a stage failing closed): left in place and tried
//     again on a later scan.
//   - Refused (5xx: rejected by policy, too large) or unreadable as a message: moved to the
//     badmail folder with NAME.reason beside it saying why, as IIS's Badmail did.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>

#include "core/config/config.hpp"
#include "core/smtp/session.hpp"

namespace relayguard {

class PickupDirectory {
 public:
  PickupDirectory(asio::io_context& io, const Config& config, const PickupConfig& pickup,
                  smtp::MessageHandler& handler, asio::thread_pool& blocking);
  // Creates the folders if needed (throws std::runtime_error if it cannot) and starts scanning.
  void start();
  void stop();

 private:
  struct Seen {
    std::uintmax_t size = 0;
    std::filesystem::file_time_type mtime;
  };
  asio::awaitable<void> loop();
  asio::awaitable<void> scan();
  asio::awaitable<void> take(const std::filesystem::path& file);
  // Blocking helpers.
  std::vector<std::filesystem::path> settledFiles();
  void toBadmail(const std::filesystem::path& file, const std::string& reason);

  asio::io_context& io_;
  const Config& config_;
  PickupConfig pickup_;
  smtp::MessageHandler& handler_;
  asio::thread_pool& blocking_;
  asio::steady_timer timer_;
  bool stopped_ = false;
  std::map<std::string, Seen> seen_;  // name -> size and mtime at the previous scan
};

}  // namespace relayguard
