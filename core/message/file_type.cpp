// file_type: libmagic-backed type sniffing with one magic_t per thread and mode (see
// file_type.hpp).
#include "core/message/file_type.hpp"

#include <algorithm>

#include <magic.h>

#include "core/util/strings.hpp"

namespace relayguard {
namespace {

constexpr int kBaseFlags = MAGIC_MIME_TYPE | MAGIC_ERROR | MAGIC_NO_CHECK_COMPRESS;

class ThreadMagic {
 public:
  explicit ThreadMagic(int flags) : cookie_(magic_open(flags)) {
    if (cookie_ != nullptr && magic_load(cookie_, nullptr) != 0) {
      magic_close(cookie_);
      cookie_ = nullptr;
    }
  }
  ThreadMagic(const ThreadMagic&) = delete;
  ThreadMagic& operator=(const ThreadMagic&) = delete;
  ~ThreadMagic() {
    if (cookie_ != nullptr) {
      magic_close(cookie_);
    }
  }

  // The MIME type of the first `limit` bytes, lower case; "" on failure.
  std::string type(std::string_view bytes, std::size_t limit) const {
    if (cookie_ == nullptr) {
      return {};
    }
    const char* type = magic_buffer(cookie_, bytes.data(), std::min(bytes.size(), limit));
    return type == nullptr ? std::string() : toLower(type);
  }

 private:
  magic_t cookie_;
};

const ThreadMagic& fullMagic() {
  thread_local const ThreadMagic magic(kBaseFlags);
  return magic;
}

const ThreadMagic& encodingMagic() {
  thread_local const ThreadMagic magic(kBaseFlags | MAGIC_NO_CHECK_SOFT);
  return magic;
}

}  // namespace

bool isText(std::string_view bytes) {
  return encodingMagic().type(bytes, kTextCheckBytes).starts_with("text/");
}

std::string sniffMimeType(std::string_view bytes) {
  return fullMagic().type(bytes, isText(bytes) ? kTextSniffBytes : kSniffBytes);
}

}  // namespace relayguard
