// opendkim: the one place that includes libopendkim's C header. dkim.h uses C99 `_Bool` in its
// prototypes, which C++ does not know; it is spelled `bool` (the same type) while the header is
// read. Private to signing/.
#pragma once

// NOLINTBEGIN
#define _Bool bool
#include <opendkim/dkim.h>
#undef _Bool
// NOLINTEND
