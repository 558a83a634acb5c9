// mime_view_test: MimeView over .eml fixtures (tests/fixtures/mime) and messages generated here:
// names (RFC 2047/2231, conflicts), decoding and sniffing, archives built at test time with
// libarchive (plain, nested, encrypted, tar.gz), URLs (QP soft breaks, HTML references),
// headers, limits and malformed input (depth, part count, huge headers, bad base64, truncated
// multiparts), concurrency, and a parse-time measurement printed to the log.
#include "core/message/mime_view.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "core/message/transfer_decoder.hpp"
#include "core/message/url_extractor.hpp"
#include "tests/support/resident_memory.hpp"
#include "tests/support/temp_dir.hpp"

namespace relayguard {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

// Reads tests/fixtures/mime/<name> and turns its LF line ends into CRLF, as on the wire.
std::string fixture(std::string_view name) {
  const std::string path = std::string(RELAYGUARD_FIXTURES_DIR) + "/mime/" + std::string(name);
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << path;
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string crlf;
  for (const char c : buffer.str()) {
    if (c == '\n') {
      crlf += '\r';
    }
    crlf += c;
  }
  return crlf;
}

std::string base64(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t line = 0;
  for (std::size_t i = 0; i < data.size(); i += 3) {
    const auto byte = [&](std::size_t k) {
      return k < data.size() ? static_cast<unsigned char>(data[k]) : 0u;
    };
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < data.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < data.size() ? kAlphabet[v & 63] : '=';
    if ((line += 4) == 76) {
      out += "\r\n";
      line = 0;
    }
  }
  return out;
}

struct File {
  std::string name;
  std::string data;
};

// Builds an archive in memory with libarchive's writer: zip (optionally ZipCrypto-encrypted
// with `passphrase`) or, with `tar_gz`, a gzip-compressed ustar archive.
std::string makeArchive(const std::vector<File>& files, const char* passphrase = nullptr,
                        bool tar_gz = false) {
  std::size_t capacity = 64 * 1024;
  for (const auto& f : files) {
    capacity += f.data.size() + f.name.size() + 512;
  }
  std::string buffer(capacity, '\0');
  std::size_t used = 0;
  archive* a = archive_write_new();
  if (tar_gz) {
    archive_write_set_format_ustar(a);
    archive_write_add_filter_gzip(a);
  } else {
    archive_write_set_format_zip(a);
  }
  if (passphrase != nullptr) {
    EXPECT_EQ(archive_write_set_options(a, "zip:encryption=zipcrypt"), ARCHIVE_OK);
    EXPECT_EQ(archive_write_set_passphrase(a, passphrase), ARCHIVE_OK);
  }
  EXPECT_EQ(archive_write_open_memory(a, buffer.data(), buffer.size(), &used), ARCHIVE_OK);
  for (const auto& f : files) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, f.name.c_str());
    archive_entry_set_size(entry, static_cast<la_int64_t>(f.data.size()));
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    EXPECT_EQ(archive_write_header(a, entry), ARCHIVE_OK) << archive_error_string(a);
    EXPECT_EQ(archive_write_data(a, f.data.data(), f.data.size()),
              static_cast<la_ssize_t>(f.data.size()));
    archive_entry_free(entry);
  }
  EXPECT_EQ(archive_write_close(a), ARCHIVE_OK) << archive_error_string(a);
  archive_write_free(a);
  buffer.resize(used);
  return buffer;
}

// A message with one text part and one base64 attachment.
std::string messageWithAttachment(std::string_view content_type, std::string_view filename,
                                  std::string_view data) {
  std::string m =
      "From: a@example.com\r\nTo: b@example.org\r\nSubject: attachment\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"att\"\r\n\r\n"
      "--att\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
      "--att\r\nContent-Type: ";
  m += content_type;
  m += "\r\nContent-Disposition: attachment; filename=\"";
  m += filename;
  m += "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n";
  m += base64(data);
  m += "\r\n--att--\r\n";
  return m;
}

const MimePart* findPart(const MimeView& view, std::string_view filename) {
  for (const auto& part : view.parts()) {
    if (std::find(part.filenames.begin(), part.filenames.end(), filename) != part.filenames.end()) {
      return &part;
    }
  }
  return nullptr;
}

std::string dosExecutable() {
  std::string mz("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00", 16);
  mz.append(200, '\0');
  return mz;
}

// ---------------------------------------------------------------------------------------------

TEST(MimeView, ParsesSimpleTextMessage) {
  const MimeView view = MimeView::parse(fixture("simple_text.eml"));
  ASSERT_EQ(view.parts().size(), 1u);
  const MimePart& part = view.parts()[0];
  EXPECT_EQ(part.depth, 0u);
  EXPECT_EQ(part.content_type, "text/plain");
  EXPECT_EQ(part.charset, "utf-8");
  EXPECT_EQ(part.disposition, "");
  EXPECT_THAT(part.filenames, IsEmpty());
  EXPECT_EQ(part.detected_type, "text/plain");
  EXPECT_TRUE(part.is_text);
  EXPECT_FALSE(part.is_html);
  EXPECT_FALSE(part.is_attachment);
  EXPECT_EQ(part.body.rfind("Hello Bob,\r\n", 0), 0u);
  EXPECT_THAT(view.problems(), IsEmpty());
}

TEST(MimeView, DecodesEncodedSubjectHeader) {
  const MimeView view = MimeView::parse(fixture("simple_text.eml"));
  EXPECT_THAT(view.headerValues("Subject"), ElementsAre("Grüße aus Köln"));
  EXPECT_THAT(view.headerValues("subject"), ElementsAre("Grüße aus Köln"));
  EXPECT_THAT(view.headerValues("FROM"), ElementsAre("Alice <alice@example.com>"));
  EXPECT_THAT(view.headerValues("Content-Type"), ElementsAre("text/plain; charset=utf-8"));
  EXPECT_THAT(view.headerValues("X-Not-There"), IsEmpty());
}

TEST(MimeView, HeaderValuesAreUnfoldedDecodedAndRepeated) {
  const MimeView view = MimeView::parse(
      "Received: from a.example by b.example;\r\n\tMon, 24 Nov 2025 10:00:00 +0000\r\n"
      "Received: from c.example by a.example\r\n"
      "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?=\r\n =?UTF-8?B?IGF1cyBLw7Zsbg==?= und\r\n mehr\r\n"
      "X-Note: =?utf-8?q?caf=C3=A9?= bar\r\n"
      "\r\nbody\r\n");
  EXPECT_THAT(view.headerValues("received"),
              ElementsAre("from a.example by b.example;\tMon, 24 Nov 2025 10:00:00 +0000",
                          "from c.example by a.example"));
  EXPECT_THAT(view.headerValues("Subject"), ElementsAre("Grüße aus Köln und mehr"));
  EXPECT_THAT(view.headerValues("x-note"), ElementsAre("café bar"));
}

TEST(MimeView, FindsUrlsInPlainText) {
  const MimeView view = MimeView::parse(fixture("simple_text.eml"));
  EXPECT_THAT(view.urls(), ElementsAre("https://reports.example.com/q3?id=42",
                                       "www.example.net/info", "http://archive.example.org/a_(b)"));
}

TEST(MimeView, ExtractsQuotedPrintableSoftBrokenUrlWhole) {
  const MimeView view = MimeView::parse(fixture("alternative_qp_url.eml"));
  ASSERT_EQ(view.parts().size(), 2u);
  const MimePart& text = view.parts()[0];
  const MimePart& html = view.parts()[1];
  EXPECT_EQ(text.depth, 1u);
  EXPECT_EQ(text.content_type, "text/plain");
  EXPECT_EQ(text.charset, "iso-8859-1");
  EXPECT_EQ(text.body.rfind("Grüße! Read more at ", 0), 0u) << text.body;  // now UTF-8
  EXPECT_TRUE(text.is_text);
  EXPECT_EQ(html.content_type, "text/html");
  EXPECT_TRUE(html.is_html);
  EXPECT_TRUE(html.is_text);
  EXPECT_EQ(html.detected_type, "text/html");
  // The URL is split by a QP soft line break in both parts; it must come out whole, once.
  EXPECT_THAT(view.urls(), ElementsAre("https://news.example.com/articles/2025/11/"
                                       "a-very-long-article-name?utm_source=mail&id=7",
                                       "https://cdn.example.com/pixel.gif"));
  EXPECT_THAT(view.headerValues("Subject"), ElementsAre("Neuigkeiten für Sie"));
  EXPECT_THAT(view.problems(), IsEmpty());
}

TEST(MimeView, DecodesRfc2047FilenameAndSniffsExecutable) {
  const MimeView view = MimeView::parse(fixture("rfc2047_attachment.eml"));
  ASSERT_EQ(view.parts().size(), 2u);
  const MimePart& att = view.parts()[1];
  EXPECT_THAT(att.filenames, ElementsAre("invoice.pdf.exe"));
  EXPECT_EQ(att.content_type, "application/pdf");
  EXPECT_EQ(att.detected_type, "application/x-dosexec");
  EXPECT_EQ(att.disposition, "attachment");
  EXPECT_TRUE(att.is_attachment);
  EXPECT_FALSE(att.is_text);
  EXPECT_EQ(att.body, dosExecutable());
  EXPECT_THAT(att.archive_entries, IsEmpty());
  EXPECT_THAT(view.problems(), IsEmpty());
}

TEST(MimeView, DecodesRfc2231Filename) {
  const MimeView view = MimeView::parse(fixture("rfc2231_filename.eml"));
  ASSERT_EQ(view.parts().size(), 2u);
  EXPECT_THAT(view.parts()[1].filenames, ElementsAre("résumé.exe"));
  EXPECT_EQ(view.parts()[1].body, "not really a program\n");
  EXPECT_THAT(view.problems(), IsEmpty());
}

TEST(MimeView, ListsBothConflictingFilenames) {
  const MimeView view = MimeView::parse(fixture("conflicting_filenames.eml"));
  ASSERT_EQ(view.parts().size(), 1u);
  EXPECT_THAT(view.parts()[0].filenames, UnorderedElementsAre("report.pdf", "report.exe"));
  EXPECT_THAT(view.problems(), Contains(std::string(mime_problem::kConflictingFilenames)));
}

TEST(MimeView, ListsNamesFromEverySecondContentDisposition) {
  const MimeView view = MimeView::parse(
      "Subject: two dispositions\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
      "Content-Type: application/octet-stream\r\n"
      "Content-Disposition: attachment; filename=\"notes.txt\"\r\n"
      "Content-Disposition: attachment; filename=\"run.exe\"\r\n\r\ndata\r\n--x--\r\n");
  ASSERT_EQ(view.parts().size(), 1u);
  EXPECT_THAT(view.parts()[0].filenames, UnorderedElementsAre("notes.txt", "run.exe"));
  EXPECT_THAT(view.problems(), Contains(std::string(mime_problem::kConflictingFilenames)));
}

TEST(MimeView, SameNameInBothPlacesIsNoConflict) {
  const MimeView view = MimeView::parse(
      "Subject: same\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
      "Content-Type: application/pdf; name=\"a.pdf\"\r\n"
      "Content-Disposition: attachment; filename=\"a.pdf\"\r\n\r\n%PDF-1.4\r\n--x--\r\n");
  ASSERT_EQ(view.parts().size(), 1u);
  EXPECT_THAT(view.parts()[0].filenames, ElementsAre("a.pdf"));
  EXPECT_EQ(view.parts()[0].detected_type, "application/pdf");
  EXPECT_THAT(view.problems(), IsEmpty());
}

TEST(MimeView, SniffsZipDeclaredAsPdfAndListsIt) {
  const std::string zip = makeArchive({{"payload.exe", dosExecutable()}});
  const MimeView view = MimeView::parse(messageWithAttachment("application/pdf", "doc.pdf", zip));
  const MimePart* att = findPart(view, "doc.pdf");
  ASSERT_NE(att, nullptr);
  EXPECT_EQ(att->content_type, "application/pdf");
  EXPECT_EQ(att->detected_type, "application/zip");
  EXPECT_THAT(att->archive_entries, ElementsAre("payload.exe"));
  EXPECT_THAT(view.problems(), IsEmpty());
}

TEST(MimeView, ListsZipEntries) {
  const std::string zip =
      makeArchive({{"readme.txt", "hello"}, {"bin/payload.exe", dosExecutable()}});
  const MimeView view = MimeView::parse(messageWithAttachment("application/zip", "files.zip", zip));
  const MimePart* att = findPart(view, "files.zip");
  ASSERT_NE(att, nullptr);
  EXPECT_EQ(att->detected_type, "application/zip");
  EXPECT_THAT(att->archive_entries, ElementsAre("readme.txt", "bin/payload.exe"));
  EXPECT_THAT(view.problems(), IsEmpty());
}

TEST(MimeView, ListsNestedZipEntries) {
  const std::string inner = makeArchive({{"payload.exe", dosExecutable()}});
  const std::string middle = makeArchive({{"inner.zip", inner}, {"note.txt", "x"}});
  const std::string outer = makeArchive({{"middle.zip", middle}});
  const MimeView view =
      MimeView::parse(messageWithAttachment("application/zip", "outer.zip", outer));
  const MimePart* att = findPart(view, "outer.zip");
  ASSERT_NE(att, nullptr);
  EXPECT_THAT(att->archive_entries,
              ElementsAre("middle.zip", "inner.zip", "payload.exe", "note.txt"));
  EXPECT_THAT(view.problems(), IsEmpty());
}

TEST(MimeView, FindsZipHiddenUnderAnInnocentNameInsideAZip) {
  const std::string inner = makeArchive({{"payload.exe", dosExecutable()}});
  const std::string outer = makeArchive({{"photo.jpg", inner}});
  const MimeView view = MimeView::parse(messageWithAttachment("application/zip", "a.zip", outer));
  const MimePart* att = findPart(view, "a.zip");
  ASSERT_NE(att, nullptr);
  EXPECT_THAT(att->archive_entries, ElementsAre("photo.jpg", "payload.exe"));
}

TEST(MimeView, StopsAtArchiveDepth) {
  const std::string inner = makeArchive({{"payload.exe", dosExecutable()}});
  const std::string outer = makeArchive({{"inner.zip", inner}});
  MimeLimits limits;
  limits.max_archive_depth = 1;
  const MimeView view =
      MimeView::parse(messageWithAttachment("application/zip", "outer.zip", outer), limits);
  const MimePart* att = findPart(view, "outer.zip");
  ASSERT_NE(att, nullptr);
  EXPECT_THAT(att->archive_entries, ElementsAre("inner.zip"));
  EXPECT_THAT(view.problems(), ElementsAre(std::string(mime_problem::kArchiveDepthExceeded)));
}

TEST(MimeView, FlagsEncryptedZipAndStillListsNames) {
  const std::string zip = makeArchive({{"payload.exe", dosExecutable()}}, "infected");
  const MimeView view =
      MimeView::parse(messageWithAttachment("application/zip", "locked.zip", zip));
  const MimePart* att = findPart(view, "locked.zip");
  ASSERT_NE(att, nullptr);
  EXPECT_THAT(att->archive_entries, ElementsAre("payload.exe"));
  EXPECT_THAT(view.problems(), ElementsAre(std::string(mime_problem::kArchiveEncrypted)));
}

TEST(MimeView, FlagsUnreadableArchive) {
  std::string broken = makeArchive({{"a.txt", "aaaa"}});
  broken.resize(broken.size() / 2);  // central directory gone
  const MimeView view =
      MimeView::parse(messageWithAttachment("application/zip", "broken.zip", broken));
  EXPECT_THAT(view.problems(), Contains(std::string(mime_problem::kArchiveUnreadable)));
  const MimeView text = MimeView::parse(
      messageWithAttachment("application/zip", "fake.zip", "this is not an archive at all"));
  EXPECT_THAT(text.problems(), ElementsAre(std::string(mime_problem::kArchiveUnreadable)));
}

TEST(MimeView, CapsArchiveEntries) {
  std::vector<File> files;
  for (int i = 0; i < 20; ++i) {
    files.push_back({"file" + std::to_string(i) + ".txt", "x"});
  }
  MimeLimits limits;
  limits.max_archive_entries = 5;
  const MimeView view = MimeView::parse(
      messageWithAttachment("application/zip", "many.zip", makeArchive(files)), limits);
  const MimePart* att = findPart(view, "many.zip");
  ASSERT_NE(att, nullptr);
  EXPECT_EQ(att->archive_entries.size(), 5u);
  EXPECT_EQ(att->archive_entries.front(), "file0.txt");
  EXPECT_THAT(view.problems(), ElementsAre(std::string(mime_problem::kArchiveTooManyEntries)));
}

TEST(MimeView, ListsTarGzEntries) {
  const std::string tgz =
      makeArchive({{"docs/a.txt", "hello"}, {"docs/run.scr", "x"}}, nullptr, true);
  const MimeView view =
      MimeView::parse(messageWithAttachment("application/octet-stream", "docs.tar.gz", tgz));
  const MimePart* att = findPart(view, "docs.tar.gz");
  ASSERT_NE(att, nullptr);
  EXPECT_EQ(att->detected_type, "application/gzip");
  EXPECT_THAT(att->archive_entries, ElementsAre("docs/a.txt", "docs/run.scr"));
  EXPECT_THAT(view.problems(), IsEmpty());
}

TEST(MimeView, ArchiveScanBudgetStopsDecompressionBombs) {
  // 8 MiB of zeros compresses to a few KiB; listing past it needs decompressing all of it.
  const std::string tgz =
      makeArchive({{"zeros.bin", std::string(8 << 20, '\0')}, {"after.exe", "x"}}, nullptr, true);
  ASSERT_LT(tgz.size(), 64u * 1024);
  MimeLimits limits;
  limits.max_archive_scan_bytes = 1 << 20;
  const MimeView view =
      MimeView::parse(messageWithAttachment("application/gzip", "bomb.tgz", tgz), limits);
  const MimePart* att = findPart(view, "bomb.tgz");
  ASSERT_NE(att, nullptr);
  EXPECT_THAT(att->archive_entries, ElementsAre("zeros.bin"));
  EXPECT_THAT(view.problems(), ElementsAre(std::string(mime_problem::kArchiveTooLarge)));
}

TEST(MimeView, WalksMessageRfc822Attachment) {
  const MimeView view = MimeView::parse(fixture("message_rfc822.eml"));
  ASSERT_EQ(view.parts().size(), 3u);
  EXPECT_EQ(view.parts()[0].body, "Forwarded message attached.");
  EXPECT_EQ(view.parts()[0].depth, 1u);
  EXPECT_EQ(view.parts()[1].body, "See the inner link http://inner.example.com/x");
  EXPECT_EQ(view.parts()[1].depth, 3u);
  const MimePart* inner = findPart(view, "inner.exe");
  ASSERT_NE(inner, nullptr);
  EXPECT_EQ(inner->depth, 3u);
  EXPECT_EQ(inner->detected_type, "application/x-dosexec");
  EXPECT_THAT(view.urls(), ElementsAre("http://inner.example.com/x"));
  // Only the outer message's headers are top-level headers.
  EXPECT_THAT(view.headerValues("Subject"), ElementsAre("Fwd: something"));
  EXPECT_THAT(view.problems(), IsEmpty());
}

TEST(MimeView, ParsesBase64EncodedMessageRfc822) {
  const std::string inner =
      "Subject: hidden\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\n"
      "Content-Type: application/octet-stream\r\n"
      "Content-Disposition: attachment; filename=\"hidden.exe\"\r\n\r\nMZ\r\n--in--\r\n";
  const std::string outer =
      "Subject: outer\r\nContent-Type: multipart/mixed; boundary=out\r\n\r\n--out\r\n"
      "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
      base64(inner) + "\r\n--out--\r\n";
  const MimeView view = MimeView::parse(outer);
  ASSERT_EQ(view.parts().size(), 1u);
  EXPECT_THAT(view.parts()[0].filenames, ElementsAre("hidden.exe"));
  EXPECT_EQ(view.parts()[0].depth, 3u);
}

std::string nestedMessage(int levels) {
  std::string m = "Subject: deep\r\n";
  for (int i = 0; i < levels; ++i) {
    m += "Content-Type: multipart/mixed; boundary=\"b" + std::to_string(i) + "\"\r\n\r\n--b" +
         std::to_string(i) + "\r\n";
  }
  m += "Content-Type: text/plain\r\n\r\nbottom http://deep.example/\r\n";
  for (int i = levels - 1; i >= 0; --i) {
    m += "--b" + std::to_string(i) + "--\r\n";
  }
  return m;
}

TEST(MimeView, RecordsDepthExceeded) {
  const MimeView ok = MimeView::parse(nestedMessage(20));
  ASSERT_EQ(ok.parts().size(), 1u);
  EXPECT_EQ(ok.parts()[0].depth, 20u);
  EXPECT_THAT(ok.problems(), IsEmpty());

  const MimeView deep = MimeView::parse(nestedMessage(30));
  EXPECT_THAT(deep.parts(), IsEmpty());
  EXPECT_THAT(deep.problems(), ElementsAre(std::string(mime_problem::kDepthExceeded)));
  EXPECT_THAT(deep.headerValues("Subject"), ElementsAre("deep"));
}

TEST(MimeView, SurvivesVeryDeepNesting) {
  const auto start = std::chrono::steady_clock::now();
  const MimeView view = MimeView::parse(nestedMessage(5000));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  std::cout << "[   INFO   ] 5000-level nesting parsed in " << ms << " ms\n";
  EXPECT_THAT(view.parts(), IsEmpty());
  EXPECT_THAT(view.problems(), Contains(std::string(mime_problem::kDepthExceeded)));
}

TEST(MimeView, RecordsTooManyParts) {
  std::string m = "Subject: parts\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n";
  for (int i = 0; i < 5000; ++i) {
    m += "--p\r\nContent-Type: text/plain\r\n\r\npart " + std::to_string(i) + "\r\n";
  }
  m += "--p--\r\n";
  const MimeView view = MimeView::parse(m);
  EXPECT_EQ(view.parts().size(), 1000u);
  EXPECT_EQ(view.parts().back().body, "part 999");
  EXPECT_THAT(view.problems(), ElementsAre(std::string(mime_problem::kTooManyParts)));
}

TEST(MimeView, SurvivesMegabyteHeaderLine) {
  std::string m =
      "From: a@example.com\r\nSubject: " + std::string(1 << 20, 'A') +
      "\r\nX-After: b\r\nContent-Type: text/plain\r\n\r\nbody http://after.example/\r\n";
  const MimeView view = MimeView::parse(m);
  ASSERT_EQ(view.parts().size(), 1u);
  EXPECT_EQ(view.parts()[0].body, "body http://after.example/\r\n");
  EXPECT_THAT(view.problems(), ElementsAre(std::string(mime_problem::kHeaderTooLarge)));
  const auto subject = view.headerValues("Subject");
  ASSERT_EQ(subject.size(), 1u);
  EXPECT_GT(subject[0].size(), 200u * 1024);
  EXPECT_LE(subject[0].size(), MimeLimits{}.max_header_bytes);
  EXPECT_THAT(view.headerValues("X-After"), IsEmpty());  // past the cap
  EXPECT_THAT(view.headerValues("From"), ElementsAre("a@example.com"));
  EXPECT_THAT(view.urls(), ElementsAre("http://after.example/"));
}

TEST(MimeView, FlagsMalformedBase64AndDecodesBothHalves) {
  const MimeView view = MimeView::parse(fixture("malformed_base64.eml"));
  ASSERT_EQ(view.parts().size(), 1u);
  // GMime alone would stop at the padding and show only "harmless".
  EXPECT_EQ(view.parts()[0].body, "harmlessMZ-hidden-after-padding");
  EXPECT_THAT(view.problems(), ElementsAre(std::string(mime_problem::kMalformedBase64)));
}

TEST(MimeView, FlagsTruncatedMultipart) {
  const MimeView view = MimeView::parse(fixture("truncated_multipart.eml"));
  ASSERT_EQ(view.parts().size(), 2u);
  EXPECT_EQ(view.parts()[0].body, "first part");
  EXPECT_THAT(view.parts()[1].filenames, ElementsAre("tail.bin"));
  EXPECT_EQ(view.parts()[1].body, "the message ends here without a closing boundary");
  EXPECT_THAT(view.problems(), ElementsAre(std::string(mime_problem::kTruncatedMultipart)));
}

TEST(MimeView, FlagsMultipartThatMissesItsOwnEndBoundary) {
  // The inner alternative is closed by the outer boundary, never by its own.
  const MimeView view = MimeView::parse(
      "Subject: x\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
      "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\r\nfirst\r\n"
      "--a\r\n\r\nsecond\r\n--a--\r\n");
  ASSERT_EQ(view.parts().size(), 2u);
  EXPECT_EQ(view.parts()[0].body, "first");
  EXPECT_EQ(view.parts()[1].body, "second");
  EXPECT_THAT(view.problems(), ElementsAre(std::string(mime_problem::kTruncatedMultipart)));
}

TEST(MimeView, HeadersOnlyMessageIsNotATruncatedMultipart) {
  const MimeView view = MimeView::parse("Subject: only headers\r\nFrom: a@example.com\r\n");
  EXPECT_THAT(view.headerValues("Subject"), ElementsAre("only headers"));
  EXPECT_THAT(view.problems(), IsEmpty());
}

TEST(MimeView, ShowsTheBodyOfAMultipartWithoutBoundary) {
  const MimeView view = MimeView::parse(
      "Subject: x\r\nContent-Type: multipart/mixed\r\n\r\nvisit http://hidden.example/now\r\n");
  ASSERT_EQ(view.parts().size(), 1u);
  EXPECT_EQ(view.parts()[0].content_type, "text/plain");
  EXPECT_EQ(view.parts()[0].depth, 1u);
  EXPECT_THAT(view.urls(), ElementsAre("http://hidden.example/now"));
  EXPECT_THAT(view.problems(), ElementsAre(std::string(mime_problem::kAmbiguousStructure)));
}

TEST(MimeView, CapsFilenameCandidates) {
  std::string m = "Subject: x\r\nContent-Type: application/octet-stream\r\n";
  for (int i = 0; i < 500; ++i) {
    m += "Content-Disposition: attachment; filename=f" + std::to_string(i) + ".exe\r\n";
  }
  m += "\r\nx\r\n";
  const MimeView view = MimeView::parse(m);
  ASSERT_EQ(view.parts().size(), 1u);
  EXPECT_EQ(view.parts()[0].filenames.size(), 16u);
  EXPECT_EQ(view.parts()[0].filenames.front(), "f0.exe");
  EXPECT_THAT(view.problems(), Contains(std::string(mime_problem::kConflictingFilenames)));
}

TEST(MimeView, DecodesHtmlEntityObfuscatedUrls) {
  const MimeView view = MimeView::parse(fixture("html_entity_url.eml"));
  ASSERT_EQ(view.parts().size(), 1u);
  EXPECT_TRUE(view.parts()[0].is_html);
  EXPECT_THAT(view.urls(),
              ElementsAre("http://evil.example/login?u=bob&x=1", "https://phish.example/a?b=1&c=2",
                          "//collector.example/post"));
  EXPECT_EQ(urlHost(view.urls()[2]), "collector.example");
}

TEST(MimeView, DecodesUuencodedBody) {
  // "Cat" uuencoded, with the name only on the begin line.
  const MimeView view = MimeView::parse(
      "Subject: uu\r\nContent-Type: application/octet-stream\r\n"
      "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 cat.exe\r\n#0V%T\r\n`\r\nend\r\n");
  ASSERT_EQ(view.parts().size(), 1u);
  EXPECT_EQ(view.parts()[0].body, "Cat");
  EXPECT_THAT(view.parts()[0].filenames, ElementsAre("cat.exe"));
  EXPECT_TRUE(view.parts()[0].is_attachment);
}

TEST(MimeView, CapsDecodedBytes) {
  MimeLimits limits;
  limits.max_decoded_bytes = 1000;
  const MimeView view = MimeView::parse(
      messageWithAttachment("application/octet-stream", "big.bin", std::string(5000, 'z')), limits);
  const MimePart* att = findPart(view, "big.bin");
  ASSERT_NE(att, nullptr);
  EXPECT_EQ(view.parts()[0].body, "see attachment");
  EXPECT_EQ(att->body.size(), 1000u - view.parts()[0].body.size());
  EXPECT_THAT(view.problems(), ElementsAre(std::string(mime_problem::kDecodedTooLarge)));
}

TEST(MimeView, AcceptsBareLfLineEnds) {
  const MimeView view = MimeView::parse(
      "Subject: lf\nContent-Type: multipart/mixed; boundary=z\n\n--z\nContent-Type: text/html\n\n"
      "<a href=\"http://lf.example/\">x</a>\n--z--\n");
  ASSERT_EQ(view.parts().size(), 1u);
  EXPECT_THAT(view.urls(), ElementsAre("http://lf.example/"));
  EXPECT_THAT(view.problems(), IsEmpty());
}

TEST(MimeView, EmptyAndGarbageInputDoNotCrash) {
  EXPECT_THAT(MimeView::parse("").parts(), IsEmpty());
  EXPECT_THAT(MimeView::parse("").problems(), IsEmpty());
  std::string garbage;
  for (int i = 0; i < 20000; ++i) {
    garbage += static_cast<char>((i * 7919) % 256);
  }
  const MimeView view = MimeView::parse(garbage);
  EXPECT_LE(view.parts().size(), 1u);
  const MimeView headers_only = MimeView::parse("Subject: x\r\nContent-Type: multipart/mixed\r\n");
  EXPECT_THAT(headers_only.headerValues("Subject"), ElementsAre("x"));
}

TEST(MimeView, ParsesConcurrentlyFromManyThreads) {
  const std::vector<std::string> inputs = {
      fixture("simple_text.eml"), fixture("alternative_qp_url.eml"),
      fixture("rfc2047_attachment.eml"), fixture("message_rfc822.eml"),
      messageWithAttachment("application/zip", "t.zip",
                            makeArchive({{"payload.exe", dosExecutable()}}))};
  std::vector<std::string> expected;
  for (const auto& input : inputs) {
    const MimeView v = MimeView::parse(input);
    std::string summary;
    for (const auto& p : v.parts()) {
      summary += p.content_type + "|" + p.detected_type + "|" + p.body + "|";
      for (const auto& e : p.archive_entries) {
        summary += e + ",";
      }
    }
    for (const auto& u : v.urls()) {
      summary += u + " ";
    }
    expected.push_back(summary);
  }
  std::vector<int> mismatches(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 40; ++round) {
        const std::size_t i = static_cast<std::size_t>(t + round) % inputs.size();
        const MimeView v = MimeView::parse(inputs[i]);
        std::string summary;
        for (const auto& p : v.parts()) {
          summary += p.content_type + "|" + p.detected_type + "|" + p.body + "|";
          for (const auto& e : p.archive_entries) {
            summary += e + ",";
          }
        }
        for (const auto& u : v.urls()) {
          summary += u + " ";
        }
        if (summary != expected[i]) {
          ++mismatches[static_cast<std::size_t>(t)];
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_THAT(mismatches, ::testing::Each(0));
}

TEST(MimeView, MeasuresParseTimeOfPlainMessage) {
  std::string m =
      "From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: status report\r\n"
      "Date: Mon, 24 Nov 2025 10:00:00 +0000\r\nMessage-ID: <x@example.com>\r\n"
      "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
  while (m.size() < 4096) {
    m += "The quick brown fox jumps over the lazy dog; see https://example.com/a for more.\r\n";
  }
  m.resize(4096);
  MimeView::parse(m);  // warm-up: GMime init, libmagic database load
  constexpr int kRounds = 2000;
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  std::size_t parts = 0;
  for (int i = 0; i < kRounds; ++i) {
    parts += MimeView::parse(m).parts().size();
  }
  const double cpu_us =
      1e6 * static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC / kRounds;
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
      kRounds;
  // Wall time includes waiting for a CPU on a loaded machine; CPU time is the parse's cost.
  std::cout << "[   INFO   ] 4 KiB plain message: " << us << " us wall, " << cpu_us
            << " us CPU per parse\n";
  RecordProperty("parse_us_4k", std::to_string(us));
  RecordProperty("parse_cpu_us_4k", std::to_string(cpu_us));
  EXPECT_EQ(parts, static_cast<std::size_t>(kRounds));
}

// ---------------------------------------------------------------------------------------------

TEST(UrlHost, PlainUrls) {
  EXPECT_EQ(urlHost("http://example.com/path"), "example.com");
  EXPECT_EQ(urlHost("HTTPS://WWW.Example.COM"), "www.example.com");
  EXPECT_EQ(urlHost("ftp://files.example.org:21/pub"), "files.example.org");
  EXPECT_EQ(urlHost("https://example.com?q=1"), "example.com");
  EXPECT_EQ(urlHost("https://example.com#frag"), "example.com");
}

TEST(UrlHost, DropsUserinfoAndPort) {
  EXPECT_EQ(urlHost("http://user@host.example:8080/x"), "host.example");
  EXPECT_EQ(urlHost("http://user:pass@host.example/x"), "host.example");
  EXPECT_EQ(urlHost("http://paypal.com@evil.example/login"), "evil.example");
  EXPECT_EQ(urlHost("http://a@b@evil.example/"), "evil.example");
}

TEST(UrlHost, Ipv6AndIpv4Literals) {
  EXPECT_EQ(urlHost("http://[2001:DB8::1]:8443/p"), "2001:db8::1");
  EXPECT_EQ(urlHost("http://user@[::1]/"), "::1");
  EXPECT_EQ(urlHost("http://192.0.2.7:81/x"), "192.0.2.7");
}

TEST(UrlHost, WithoutSchemeOrProtocolRelative) {
  EXPECT_EQ(urlHost("www.Example.net/info"), "www.example.net");
  EXPECT_EQ(urlHost("www.example.net:8080/info"), "www.example.net");
  EXPECT_EQ(urlHost("//collector.example/post"), "collector.example");
}

TEST(UrlHost, BrowserLeniency) {
  EXPECT_EQ(urlHost("http:\\\\evil.example\\path"), "evil.example");
  EXPECT_EQ(urlHost("https:evil.example/x"), "evil.example");
  EXPECT_EQ(urlHost("http://%65vil.example/"), "evil.example");
  EXPECT_EQ(urlHost("http://evil.example./"), "evil.example");
}

TEST(UrlHost, NoHost) {
  EXPECT_EQ(urlHost("mailto:someone@example.com"), "");
  EXPECT_EQ(urlHost("javascript:alert(1)"), "");
  EXPECT_EQ(urlHost(""), "");
  EXPECT_EQ(urlHost("http://"), "");
}

// ---------------------------------------------------------------------------------------------

TEST(MimeUrlExtractor, TrimsTrailingPunctuationAndUnbalancedBrackets) {
  std::vector<std::string> urls;
  extractTextUrls(
      "Go to http://a.example/x. Or (http://b.example/y), \"https://c.example/z\"! "
      "[http://d.example/w] http://e.example/wiki/Foo_(bar) www.f.example; "
      "awww.not.example http:// nothing",
      urls);
  EXPECT_THAT(
      urls, ElementsAre("http://a.example/x", "http://b.example/y", "https://c.example/z",
                        "http://d.example/w", "http://e.example/wiki/Foo_(bar)", "www.f.example"));
}

TEST(MimeUrlExtractor, DecodesCharacterReferences) {
  EXPECT_EQ(decodeHtmlEntities("a&amp;b&lt;c&gt;&quot;&#39;&#x41;&#66&nbsp;&colon;&bogus;&"),
            "a&b<c>\"'AB\xC2\xA0:&bogus;&");
  EXPECT_EQ(decodeHtmlEntities("&#0;&#xD800;&#99999999;"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(MimeUrlExtractor, HtmlAttributesIgnoreTabsAndNewlines) {
  std::vector<std::string> urls;
  extractHtmlUrls(
      "<a href=\"ht\ttp://split.example/a\nb\">x</a><img src=https://img.example/i.png>", urls);
  EXPECT_THAT(urls, ElementsAre("http://split.example/ab", "https://img.example/i.png"));
  EXPECT_THAT(urls, Not(Contains("ttp://split.example/a")));
}

TEST(MimeTransferDecoder, DetectsPaddingInTheMiddle) {
  EXPECT_FALSE(hasBase64PaddingInMiddle("QUJDRA==\r\n"));
  EXPECT_FALSE(hasBase64PaddingInMiddle("QUJD\r\nRA==\r\n\r\n"));
  EXPECT_TRUE(hasBase64PaddingInMiddle("QUJDRA==\r\nRUZH"));
  EXPECT_FALSE(hasBase64PaddingInMiddle("QUJD\r\nRUZH\r\n"));
  EXPECT_TRUE(hasBase64PaddingInMiddle("QU=JD"));
  std::string out;
  const DecodeResult r = decodeTransfer("QUJDRA==\r\nRUZH\r\n", TransferEncoding::base64, 100, out);
  EXPECT_TRUE(r.malformed_base64);
  EXPECT_EQ(out, "ABCDEFG");
}

// decodeTransferToFile writes what decodeTransfer appends, across its 256 KiB write buffer:
// whole, cut at a limit past the first flush, base64 with padding in the middle, identity; and
// a descriptor that cannot be written is a file_error.
TEST(MimeTransferDecoder, DecodesIntoAFileAsIntoMemory) {
  std::mt19937 random(3);
  std::string data(700 * 1024, '\0');
  for (char& c : data) {
    c = static_cast<char>(random() & 0xff);
  }
  struct Case {
    const char* label;
    std::string encoded;
    TransferEncoding encoding;
    std::uint64_t max_bytes;
  };
  const std::vector<Case> cases = {
      {"base64", base64(data), TransferEncoding::base64, 1 << 20},
      {"cut", base64(data), TransferEncoding::base64, 300 * 1024},
      {"padding in the middle", base64("head") + "\r\n" + base64(data), TransferEncoding::base64,
       1 << 20},
      {"identity", data, TransferEncoding::identity, 1 << 20},
  };
  test::TempDir dir;
  for (const Case& c : cases) {
    std::string memory;
    const DecodeResult in_memory = decodeTransfer(c.encoded, c.encoding, c.max_bytes, memory);
    const auto path = dir.path() / "decoded";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    const DecodeResult to_file = decodeTransferToFile(c.encoded, c.encoding, c.max_bytes, fd);
    ::close(fd);
    EXPECT_EQ(to_file.file_error, 0) << c.label;
    EXPECT_EQ(to_file.file_bytes, memory.size()) << c.label;
    EXPECT_EQ(to_file.truncated, in_memory.truncated) << c.label;
    EXPECT_EQ(to_file.malformed_base64, in_memory.malformed_base64) << c.label;
    std::ifstream in(path, std::ios::binary);
    const std::string written((std::istreambuf_iterator<char>(in)), {});
    EXPECT_TRUE(written == memory) << c.label << ": " << written.size() << " bytes";
  }
  std::string cut;
  EXPECT_TRUE(
      decodeTransfer(cases[1].encoded, TransferEncoding::base64, 300 * 1024, cut).truncated);
  EXPECT_TRUE(cut == data.substr(0, 300 * 1024));

  const int read_only = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(read_only, 0);
  const DecodeResult failed =
      decodeTransferToFile(cases[0].encoded, TransferEncoding::base64, 1 << 20, read_only);
  ::close(read_only);
  EXPECT_NE(failed.file_error, 0);
}

TEST(MimeTransferDecoder, ConvertsCharsetsToUtf8) {
  std::string latin1 =
      "Gr\xFC\xDF"
      "e";
  EXPECT_TRUE(convertToUtf8(latin1, "ISO-8859-1"));
  EXPECT_EQ(latin1, "Grüße");
  std::string cp1252 = "\x80 5";
  EXPECT_TRUE(convertToUtf8(cp1252, "windows-1252"));
  EXPECT_EQ(cp1252, "€ 5");
  std::string bad_utf16("\x41\x00\x42", 3);  // odd length: the last byte is incomplete
  EXPECT_TRUE(convertToUtf8(bad_utf16, "utf-16le"));
  EXPECT_EQ(bad_utf16, "A\xEF\xBF\xBD");
  std::string unknown = "abc";
  EXPECT_FALSE(convertToUtf8(unknown, "x-no-such-charset"));
  EXPECT_EQ(unknown, "abc");
}

// A message spilled to a file is parsed from the file and decoded from its mapping a window at a
// time: the view is the one the same bytes give in memory, and the mapping is left with next
// to nothing resident.
TEST(MimeView, AMessageInAFileGivesTheSameViewWithItsPagesGivenBack) {
  std::string binary(6 << 20, '\0');
  for (std::size_t i = 0; i < binary.size(); ++i) {
    binary[i] = static_cast<char>((i * 7919) >> 3);
  }
  const std::string raw =
      "From: a@example.test\r\nSubject: spilled\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
      "--outer\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
      "Gr=FC=DFe, see https://example.org/x=\r\ny and more\r\n"
      "--outer\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n" +
      base64(binary) +
      "\r\n--outer\r\nContent-Type: message/rfc822\r\n\r\n"
      "Subject: inner\r\nContent-Type: text/html\r\n\r\n"
      "<a href=\"https://inner.example.net/\">x</a>\r\n"
      "--outer\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
      "aGVsbG8=\r\nd29ybGQ=\r\n"
      "--outer--\r\n";
  test::TempDir dir;
  const auto path = dir.write("spilled.eml", raw);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const MappedFile file = MappedFile::open(path);
  const MimeView memory = MimeView::parse(raw);  // first: libmagic maps its database once
  const std::size_t before = test::residentKib("RssFile");
  const MimeView spilled = MimeView::parse(PagedBytes(file.bytes(), &file, fd));
  const std::size_t after = test::residentKib("RssFile");
  ::close(fd);

  EXPECT_LT(after, before + 2 * 1024);
  ASSERT_EQ(spilled.parts().size(), 4U);
  ASSERT_EQ(spilled.parts().size(), memory.parts().size());
  for (std::size_t i = 0; i < memory.parts().size(); ++i) {
    const MimePart& a = spilled.parts()[i];
    const MimePart& b = memory.parts()[i];
    EXPECT_EQ(a.content_type, b.content_type) << i;
    EXPECT_EQ(a.detected_type, b.detected_type) << i;
    EXPECT_EQ(a.filenames, b.filenames) << i;
    EXPECT_TRUE(a.body == b.body) << i;
  }
  EXPECT_TRUE(spilled.parts()[1].body == binary);
  EXPECT_EQ(spilled.parts()[0].body, "Grüße, see https://example.org/xy and more");
  EXPECT_EQ(spilled.parts()[3].body, "helloworld");  // padding in the middle, both halves
  EXPECT_EQ(spilled.urls(), memory.urls());
  EXPECT_EQ(spilled.problems(), memory.problems());
  EXPECT_THAT(spilled.problems(), Contains(std::string(mime_problem::kMalformedBase64)));
  EXPECT_EQ(spilled.headerValues("Subject"), std::vector<std::string>{"spilled"});
}

// With a spill directory, a large attachment is decoded into an unnamed file there: the part
// has no body in memory, its bytes are the same, it is sniffed and its archive listed as in
// memory. Text, small parts, and everything when the directory cannot take a file stay in
// memory.
TEST(MimeView, LargeAttachmentsAreDecodedIntoFilesAndReadTheSame) {
  std::mt19937 random(7);  // incompressible: the zip stays about as large
  std::string noise(3 << 20, '\0');
  for (char& c : noise) {
    c = static_cast<char>(random() & 0xff);
  }
  const std::string zip = makeArchive({{"report.pdf", "%PDF-1.4\n" + noise}, {"run.exe", "MZ"}});
  const std::string big_text(1536 * 1024, 't');
  const std::string raw =
      "From: a@example.com\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
      "--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
      base64(big_text) +
      "\r\n--b\r\nContent-Type: application/zip; name=\"big.zip\"\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n" +
      base64(zip) +
      "\r\n--b\r\nContent-Type: application/octet-stream; name=\"small.bin\"\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n" +
      base64("small") + "\r\n--b--\r\n";
  test::TempDir dir;
  MimeLimits limits;
  limits.spill_dir = dir.path();
  const MimeView spilled = MimeView::parse(raw, limits);
  const MimeView memory = MimeView::parse(raw);

  ASSERT_EQ(spilled.parts().size(), 3U);
  const MimePart& text = spilled.parts()[0];
  const MimePart& archive = spilled.parts()[1];
  const MimePart& small = spilled.parts()[2];
  EXPECT_EQ(text.spilled, nullptr);
  EXPECT_TRUE(text.body == big_text);
  ASSERT_NE(archive.spilled, nullptr);
  EXPECT_TRUE(archive.body.empty());
  EXPECT_EQ(archive.size(), zip.size());
  EXPECT_TRUE(archive.bytes().data == zip);
  EXPECT_GE(archive.bytes().fd, 0);
  EXPECT_EQ(archive.detected_type, memory.parts()[1].detected_type);
  EXPECT_EQ(archive.detected_type, "application/zip");
  EXPECT_THAT(archive.archive_entries, ElementsAre("report.pdf", "run.exe"));
  EXPECT_EQ(archive.archive_entries, memory.parts()[1].archive_entries);
  EXPECT_EQ(small.spilled, nullptr);
  EXPECT_EQ(small.body, "small");
  EXPECT_EQ(spilled.problems(), memory.problems());
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));  // unnamed: nothing to clean up

  limits.spill_dir = dir.path() / "absent";
  const MimeView fallback = MimeView::parse(raw, limits);
  ASSERT_EQ(fallback.parts().size(), 3U);
  EXPECT_EQ(fallback.parts()[1].spilled, nullptr);
  EXPECT_TRUE(fallback.parts()[1].body == zip);
}

}  // namespace
}  // namespace relayguard
