// gmime_ptr: ownership and type checks for the GMime/GObject C API used by the MIME view.
// unique_ptr wrappers release GObject references and g_malloc'd strings; isA()/as() replace
// GLib's instance-check and cast macros (C-style casts that trip -Wold-style-cast).
// ensureGMimeInitialized() runs g_mime_init() once per process, from any thread.
#pragma once

#include <memory>
#include <mutex>
#include <string_view>

#include <gmime/gmime.h>

namespace relayguard::gmime {

struct ObjectUnref {
  void operator()(void* object) const noexcept {
    if (object != nullptr) {
      g_object_unref(object);
    }
  }
};

// Owns one reference to a GObject-derived instance (GMimeStream, GMimeParser, GMimeMessage, ...).
template <typename T>
using Ptr = std::unique_ptr<T, ObjectUnref>;

struct Free {
  void operator()(void* memory) const noexcept { g_free(memory); }
};

// Owns a string GMime returns with "transfer full" (free with g_free).
using String = std::unique_ptr<char, Free>;

struct ParserOptionsFree {
  void operator()(GMimeParserOptions* options) const noexcept {
    if (options != nullptr) {
      g_mime_parser_options_free(options);
    }
  }
};
using ParserOptions = std::unique_ptr<GMimeParserOptions, ParserOptionsFree>;

inline void ensureGMimeInitialized() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

// True when `instance` is a non-null GObject of `type` or of a subclass of it.
inline bool isA(const void* instance, GType type) {
  return instance != nullptr &&
         g_type_check_instance_is_a(static_cast<GTypeInstance*>(const_cast<void*>(instance)),
                                    type) != FALSE;
}

// `instance` seen as a T (a GObject subclass struct) when it is one, else nullptr.
template <typename T, typename U>
T* as(U* instance, GType type) {
  return isA(instance, type) ? reinterpret_cast<T*>(instance) : nullptr;
}

// An up-cast to a base struct (GMimeObject*, GMimeStream*); C structs embed their parent first.
template <typename Base, typename Derived>
Base* base(Derived* instance) {
  return reinterpret_cast<Base*>(instance);
}

// A memory stream over bytes the caller keeps alive and unchanged for the stream's whole life
// (and that of every substream the parser makes of it), without the copy that
// g_mime_stream_mem_new_with_buffer() makes: a 25 MiB message was held twice while its MIME
// view was built. The parser only reads its input stream; nothing may write to this one.
inline Ptr<GMimeStream> borrowedMemoryStream(std::string_view bytes) {
  // The array struct points at the caller's bytes; the stream does not own it (set_owner FALSE),
  // and when the stream is finalized the struct alone is freed (g_byte_array_free(.., FALSE)
  // never frees the data).
  GByteArray* shell = g_byte_array_new_take(
      reinterpret_cast<guint8*>(const_cast<char*>(bytes.data())), bytes.size());
  Ptr<GMimeStream> stream(g_mime_stream_mem_new_with_byte_array(shell));
  g_mime_stream_mem_set_owner(as<GMimeStreamMem>(stream.get(), g_mime_stream_mem_get_type()),
                              FALSE);
  g_object_set_data_full(
      base<GObject>(stream.get()), "relayguard-borrowed-bytes", shell,
      [](gpointer array) { g_byte_array_free(static_cast<GByteArray*>(array), FALSE); });
  return stream;
}

}  // namespace relayguard::gmime
