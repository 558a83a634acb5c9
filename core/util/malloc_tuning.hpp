// malloc_tuning: fixed glibc malloc thresholds for the long-running relay.
//
// glibc's defaults suit short programs: a free block of more than 128 KiB at the top of a thread's
// heap goes back to the kernel (trimmed), and blocks above a threshold that moves between 128 KiB
// and 32 MiB come from mmap. A relay allocates and frees the same few hundred KiB per message
// (a decoded attachment, libmagic's and libclamav's work buffers) on its pool threads, so every
// message paid for the same pages again: a page fault per 4 KiB page, expensive under a hypervisor.
// Fixed thresholds keep up to kTrimThreshold of free memory per heap for reuse and send blocks of
// kMmapThreshold and more (a spilled large message's decoded parts) straight back to the kernel
// when freed. Measured in bench/README.md ("Malloc thresholds").
#pragma once

#include <cstddef>
#include <string_view>

namespace relayguard {

inline constexpr std::size_t kMmapThreshold = 1024 * 1024;
inline constexpr std::size_t kTrimThreshold = 4 * 1024 * 1024;

// False when the operator set glibc malloc tunables themselves (GLIBC_TUNABLES naming any
// glibc.malloc.* setting): theirs win.
bool wantMallocTuning(std::string_view glibc_tunables);

// Applies the thresholds unless the environment's GLIBC_TUNABLES sets malloc itself, and says
// what came of it, for the log: "tuned", "GLIBC_TUNABLES" (the operator's settings kept) or
// "mallopt refused" (glibc's defaults kept). Call before threads start.
std::string_view tuneMallocForServer();

}  // namespace relayguard
