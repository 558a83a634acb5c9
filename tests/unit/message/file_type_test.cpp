// file_type_test: libmagic names binary formats by their magic (also 32 KiB in, where ISO 9660
// keeps it), text stays text, and bytes with no magic are application/octet-stream.
#include "core/message/file_type.hpp"

#include <random>

#include <gtest/gtest.h>

namespace relayguard {
namespace {

std::string randomBytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) {
    c = static_cast<char>(rng());
  }
  return out;
}

TEST(FileType, BinaryFormatsAreNamedByTheirMagic) {
  EXPECT_EQ(sniffMimeType("%PDF-1.4\n" + randomBytes(70000, 1)), "application/pdf");
  EXPECT_EQ(sniffMimeType(std::string("\x1f\x8b\x08\x00", 4) + randomBytes(5000, 2)),
            "application/gzip");
  std::string pe = "MZ" + std::string(0x3a, '\0') + std::string("\x40\0\0\0", 4) + "PE" +
                   std::string(2, '\0') + std::string("\x4c\x01", 2) + std::string(400, '\0');
  EXPECT_EQ(sniffMimeType(pe), "application/vnd.microsoft.portable-executable");
  EXPECT_EQ(sniffMimeType("MZ" + std::string(200, '\0')), "application/x-dosexec");
}

TEST(FileType, MagicFarIntoTheBodyIsStillSeen) {
  std::string iso(40000, '\0');
  iso.replace(32769, 5, "CD001");
  EXPECT_EQ(sniffMimeType(iso), "application/x-iso9660-image");
}

TEST(FileType, TextIsTextAndBytesWithoutMagicAreOctetStream) {
  EXPECT_TRUE(isText("Dear colleague,\nplease find the figures below.\n"));
  EXPECT_EQ(sniffMimeType("Dear colleague,\nplease find the figures below.\n"), "text/plain");
  const std::string noise = randomBytes(20000, 3);
  EXPECT_FALSE(isText(noise));
  EXPECT_EQ(sniffMimeType(noise), "application/octet-stream");
  // Text for a while, then a NUL: not text, and no magic.
  EXPECT_EQ(sniffMimeType(std::string(1000, 'a') + std::string(1, '\0') + noise),
            "application/octet-stream");
}

}  // namespace
}  // namespace relayguard
