// group_sync: group commit of fsyncs across threads.
//
// A thread that has made a change (written a line, renamed a file into a folder) calls
// afterChange() with the sync that makes it durable. It returns once a sync that began after
// the call has completed: the first caller runs the sync, and every caller that arrives while
// it runs waits and then finds itself covered by the next one, so N concurrent commits cost
// about two syncs instead of N (what Postfix's and databases' group commit do). A sync that
// throws covers nobody: each waiter then tries again itself, and the error reaches the caller
// whose sync failed.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

namespace relayguard {

class GroupSync {
 public:
  template <class Sync>
  void afterChange(Sync&& sync) {
    const std::uint64_t mine = changes_.fetch_add(1) + 1;  // counted after the change was made
    std::lock_guard lock(mutex_);
    if (synced_ >= mine) {
      return;  // a sync that began after our change has already completed
    }
    // Every change counted so far was made before this sync begins, so it covers them all.
    const std::uint64_t covers = changes_.load();
    sync();
    synced_ = covers;
  }

 private:
  std::atomic<std::uint64_t> changes_{0};
  std::mutex mutex_;  // one sync at a time; the others ride along
  std::uint64_t synced_ = 0;
};

}  // namespace relayguard
