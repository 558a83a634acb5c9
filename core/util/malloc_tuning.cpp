// malloc_tuning: see malloc_tuning.hpp.
#include "core/util/malloc_tuning.hpp"

#include <cstdlib>

#include <malloc.h>

namespace relayguard {

bool wantMallocTuning(std::string_view glibc_tunables) {
  return glibc_tunables.find("glibc.malloc.") == std::string_view::npos;
}

std::string_view tuneMallocForServer() {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (!wantMallocTuning(tunables == nullptr ? std::string_view() : std::string_view(tunables))) {
    return "GLIBC_TUNABLES";
  }
  // Setting either threshold also turns glibc's moving of the mmap threshold off.
  const bool tuned = mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThreshold)) == 1 &&
                     mallopt(M_TRIM_THRESHOLD, static_cast<int>(kTrimThreshold)) == 1;
  return tuned ? "tuned" : "mallopt refused";
}

}  // namespace relayguard
