// fuzz_check: the fuzz targets' assertion. A broken invariant traps, which libFuzzer reports as a
// crash and keeps the input as a reproducer.
#pragma once

#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond)) {       \
      __builtin_trap();  \
    }                    \
  } while (false)
