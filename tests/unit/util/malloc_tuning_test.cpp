// malloc_tuning_test: the operator's GLIBC_TUNABLES win; once tuned, a freed block under the mmap
// threshold stays at the top of the heap for reuse, and larger blocks come from mmap.
#include "core/util/malloc_tuning.hpp"

#include <cstdlib>
#include <cstring>

#include <gtest/gtest.h>
#include <malloc.h>

namespace relayguard {
namespace {

TEST(MallocTuning, OperatorsMallocTunablesWin) {
  EXPECT_TRUE(wantMallocTuning(""));
  EXPECT_TRUE(wantMallocTuning("glibc.rtld.nns=2"));
  EXPECT_FALSE(wantMallocTuning("glibc.malloc.arena_max=2"));
  EXPECT_FALSE(wantMallocTuning("glibc.rtld.nns=2:glibc.malloc.trim_threshold=0"));
  // What serve logs then (glibc read the variable at start; here only the answer is checked).
  ASSERT_EQ(::setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2", 1), 0);
  EXPECT_EQ(tuneMallocForServer(), "GLIBC_TUNABLES");
  ::unsetenv("GLIBC_TUNABLES");
}

// The unit tests are linked without tcmalloc (only the relayguard binary is): glibc serves them,
// and the detection must not claim otherwise.
TEST(MallocTuning, GlibcIsNotTakenForTcmalloc) {
  EXPECT_FALSE(tcmallocServesMalloc());
}

// Runs on the main thread, whose heap mallinfo2().keepcost describes.
TEST(MallocTuning, FreedBlocksUnderTheThresholdStayAndLargerOnesAreMapped) {
  ASSERT_EQ(tuneMallocForServer(), "tuned");
  constexpr std::size_t kMid = 900 * 1024;
  void* mid = std::malloc(kMid);
  ASSERT_NE(mid, nullptr);
  std::memset(mid, 1, kMid);
  std::free(mid);
  // glibc's default would have mapped the block and unmapped it again (or trimmed it away).
  EXPECT_GE(mallinfo2().keepcost, kMid);

  const std::size_t mapped_before = mallinfo2().hblks;
  void* big = std::malloc(2 * kMmapThreshold);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(mallinfo2().hblks, mapped_before + 1);
  std::free(big);
  EXPECT_EQ(mallinfo2().hblks, mapped_before);
}

}  // namespace
}  // namespace relayguard
