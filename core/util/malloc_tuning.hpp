// malloc_tuning: the relay's allocator, and fixed glibc malloc thresholds when glibc's is it.
//
// The relayguard binary is linked with tcmalloc (CMake option RELAYGUARD_TCMALLOC, on by
// default): per-thread caches, and freed memory kept for reuse and given back to the kernel
// gradually. A build without it runs on glibc's malloc, whose defaults suit short programs: a
// free block of more than 128 KiB at the top of a thread's heap goes back to the kernel (trimmed),
// and blocks above a threshold that moves between 128 KiB and 32 MiB come from mmap. A relay
// allocates and frees the same few hundred KiB per message (a decoded attachment, libmagic's and
// libclamav's work buffers) on its pool threads, so every message paid for the same pages again:
// a page fault per 4 KiB page, expensive under a hypervisor. Fixed thresholds keep up to
// kTrimThreshold of free memory per heap for reuse and send blocks of kMmapThreshold and more (a
// spilled large message's decoded parts) straight back to the kernel when freed. Measured in
// bench/README.md ("The allocator", "Malloc thresholds").
#pragma once

#include <cstddef>
#include <string_view>

namespace relayguard {

inline constexpr std::size_t kMmapThreshold = 1024 * 1024;
inline constexpr std::size_t kTrimThreshold = 4 * 1024 * 1024;

// False when the operator set glibc malloc tunables themselves (GLIBC_TUNABLES naming any
// glibc.malloc.* setting): theirs win.
bool wantMallocTuning(std::string_view glibc_tunables);

// Whether tcmalloc serves this process's malloc (it answers for the bytes it has handed out).
bool tcmallocServesMalloc();

// Says which allocator serves malloc and how, for the log: "tcmalloc" (nothing to tune), else
// glibc's with the thresholds applied unless the environment's GLIBC_TUNABLES sets malloc
// itself: "tuned", "GLIBC_TUNABLES" (the operator's settings kept) or "mallopt refused" (glibc's
// defaults kept). Call before threads start.
std::string_view tuneMallocForServer();

}  // namespace relayguard
