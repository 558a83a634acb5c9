// malloc_tuning: see malloc_tuning.hpp.
#include "core/util/malloc_tuning.hpp"

#include <cstddef>
#include <cstdlib>

#include <dlfcn.h>
#include <malloc.h>

namespace relayguard {

bool wantMallocTuning(std::string_view glibc_tunables) {
  return glibc_tunables.find("glibc.malloc.") == std::string_view::npos;
}

bool tcmallocServesMalloc() {
  // gperftools' C interface, looked up rather than linked: this library is also linked into
  // programs without tcmalloc (the tests). Present and counting allocated bytes only when
  // tcmalloc is the process's malloc.
  using GetProperty = int (*)(const char*, std::size_t*);
  const auto get =
      reinterpret_cast<GetProperty>(::dlsym(RTLD_DEFAULT, "MallocExtension_GetNumericProperty"));
  std::size_t allocated = 0;
  return get != nullptr && get("generic.current_allocated_bytes", &allocated) != 0 && allocated > 0;
}

std::string_view tuneMallocForServer() {
  if (tcmallocServesMalloc()) {
    return "tcmalloc";
  }
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
