// group_sync_test: a caller of GroupSync::afterChange returns only once a sync that began after
// its change has completed, concurrent callers share syncs, and a failed sync covers nobody.
#include "core/util/group_sync.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace relayguard {
namespace {

TEST(GroupSync, EveryChangeIsCoveredByACompletedSync) {
  GroupSync group;
  constexpr int kThreads = 8;
  constexpr int kRounds = 200;
  std::atomic<int> changes{0};  // changes made so far
  std::atomic<int> synced{0};   // changes that had been made when the last completed sync began
  std::atomic<int> syncs{0};
  std::atomic<int> uncovered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        const int mine = changes.fetch_add(1) + 1;
        group.afterChange([&] {
          const int seen = changes.load();
          std::this_thread::yield();  // a slow disk: others arrive meanwhile
          ++syncs;
          // Only one sync runs at a time; a later one has seen at least as much.
          if (seen > synced.load()) {
            synced.store(seen);
          }
        });
        // What the last completed sync covered must include this change.
        if (synced.load() < mine) {
          ++uncovered;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(uncovered.load(), 0);
  EXPECT_EQ(changes.load(), kThreads * kRounds);
  EXPECT_GE(syncs.load(), 1);
  EXPECT_LE(syncs.load(), kThreads * kRounds);
}

TEST(GroupSync, ALoneCallerSyncsEveryTime) {
  GroupSync group;
  int syncs = 0;
  for (int i = 0; i < 3; ++i) {
    group.afterChange([&] { ++syncs; });
  }
  EXPECT_EQ(syncs, 3);
}

// A and B change while C's sync runs, so the next sync covers both; it fails, so the other
// one must sync again rather than count itself covered.
TEST(GroupSync, AFailedSyncCoversNobody) {
  GroupSync group;
  std::atomic<int> calls{0};
  std::atomic<int> arrived{0};
  std::atomic<int> failures{0};
  auto sync = [&] {
    const int n = ++calls;
    if (n == 1) {  // C's sync: hold the lock until A and B are waiting for it
      while (arrived.load() < 2) {
        std::this_thread::yield();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } else if (n == 2) {
      throw std::runtime_error("disk gone");
    }
  };
  std::thread c([&] { group.afterChange(sync); });
  while (calls.load() < 1) {
    std::this_thread::yield();
  }
  auto changer = [&] {
    ++arrived;
    try {
      group.afterChange(sync);
    } catch (const std::runtime_error&) {
      ++failures;
    }
  };
  std::thread a(changer);
  std::thread b(changer);
  c.join();
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 1);
  EXPECT_EQ(calls.load(), 3);  // C's, the failed one, and the retry by the other
}

}  // namespace
}  // namespace relayguard
