// antivirus_stage_test: the `antivirus` stage against a real libclamav engine and a signature
// database written by each test: EICAR found plain, base64, quoted-printable, zipped and in an
// attached message; limits exceeded are findings, never clean; on_virus; database errors at the
// `database` key; signature reloads (new, broken) and scans from several threads during a swap.
// The EICAR test string is assembled at run time so the repository never holds it.
#include "filters/antivirus/antivirus_stage.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "filters/antivirus/clamav_engine.hpp"
#include "filters/pipeline.hpp"
#include "tests/support/resident_memory.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/filters/run_pipeline.hpp"

namespace relayguard::filters {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string eicar() {
  return std::string("X5O!P%@AP[4\\PZX54(P^)7CC)7}$") + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
}

const std::string kMarker = "RELAYGUARD-TEST-SECOND-MARKER";

std::string hex(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string base64(std::string_view data) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t line = 0;
  for (std::size_t i = 0; i < data.size(); i += 3) {
    const std::uint32_t n =
        (static_cast<unsigned char>(data[i]) << 16) |
        (i + 1 < data.size() ? static_cast<unsigned char>(data[i + 1]) << 8 : 0) |
        (i + 2 < data.size() ? static_cast<unsigned char>(data[i + 2]) : 0);
    out += t[(n >> 18) & 63];
    out += t[(n >> 12) & 63];
    out += i + 1 < data.size() ? t[(n >> 6) & 63] : '=';
    out += i + 2 < data.size() ? t[n & 63] : '=';
    if (++line == 19) {
      out += "\r\n";
      line = 0;
    }
  }
  return out + "\r\n";
}

// Every byte as =XX, with soft line breaks: nothing of the original is left readable.
std::string quotedPrintable(std::string_view data) {
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const auto c = static_cast<unsigned char>(data[i]);
    out += '=';
    out += digits[c >> 4];
    out += digits[c & 15];
    if (i % 20 == 19) {
      out += "=\r\n";
    }
  }
  return out + "\r\n";
}

// A zip holding one file, built in memory with libarchive.
std::string makeZip(const std::string& name, const std::string& data, std::size_t capacity) {
  std::string buffer(capacity, '\0');
  std::size_t used = 0;
  archive* a = archive_write_new();
  archive_write_set_format_zip(a);
  EXPECT_EQ(archive_write_open_memory(a, buffer.data(), buffer.size(), &used), ARCHIVE_OK);
  archive_entry* entry = archive_entry_new();
  archive_entry_set_pathname(entry, name.c_str());
  archive_entry_set_size(entry, static_cast<la_int64_t>(data.size()));
  archive_entry_set_filetype(entry, AE_IFREG);
  archive_entry_set_perm(entry, 0644);
  EXPECT_EQ(archive_write_header(a, entry), ARCHIVE_OK) << archive_error_string(a);
  EXPECT_EQ(archive_write_data(a, data.data(), data.size()), static_cast<la_ssize_t>(data.size()));
  archive_entry_free(entry);
  EXPECT_EQ(archive_write_close(a), ARCHIVE_OK) << archive_error_string(a);
  archive_write_free(a);
  buffer.resize(used);
  return buffer;
}

std::string plainMessage(const std::string& body) {
  return "From: app@example.test\r\nTo: user@example.test\r\nSubject: test\r\n\r\n" + body + "\r\n";
}

// A multipart message whose second part carries `encoded` with the given headers.
std::string multipart(const std::string& part_headers, const std::string& encoded) {
  return "From: app@example.test\r\nTo: user@example.test\r\nSubject: attached\r\n"
         "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
         "--b1\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--b1\r\n" +
         part_headers + "\r\n\r\n" + encoded + "--b1--\r\n";
}

std::string base64Attachment(const std::string& filename, const std::string& data) {
  return multipart(
      "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; "
      "filename=\"" +
          filename + "\"\r\nContent-Transfer-Encoding: base64",
      base64(data));
}

// Classic uuencode (begin line, length-prefixed lines of 45 bytes, backquote for zero, end).
std::string uuencode(const std::string& name, std::string_view data) {
  const auto enc = [](unsigned v) { return static_cast<char>(v == 0 ? '`' : v + 32); };
  std::string out = "begin 644 " + name + "\r\n";
  for (std::size_t at = 0; at < data.size(); at += 45) {
    const std::string_view line = data.substr(at, 45);
    out += enc(static_cast<unsigned>(line.size()));
    for (std::size_t i = 0; i < line.size(); i += 3) {
      unsigned n = 0;
      for (std::size_t k = 0; k < 3; ++k) {
        n = n << 8 | (i + k < line.size() ? static_cast<unsigned char>(line[i + k]) : 0U);
      }
      for (int shift = 18; shift >= 0; shift -= 6) {
        out += enc((n >> shift) & 63);
      }
    }
    out += "\r\n";
  }
  return out + "`\r\nend\r\n";
}

// Messages with EICAR hidden in every way the stage must see through, in either scan mode.
std::vector<std::pair<std::string, std::string>> infectedMessages() {
  const std::string text_uu =
      "Hello,\r\n\r\nthe tool is below.\r\n\r\n" + uuencode("t.com", eicar());
  return {
      {"plain", plainMessage(eicar())},
      {"base64 attachment", base64Attachment("invoice.com", eicar())},
      {"quoted-printable part",
       multipart("Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable",
                 quotedPrintable(eicar()))},
      {"zip attachment",
       base64Attachment("docs.zip", makeZip("readme.com", "padding\n" + eicar(), 64 * 1024))},
      {"nested message",
       multipart("Content-Type: message/rfc822", base64Attachment("inner.com", eicar()))},
      {"base64-encoded nested message",
       multipart("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64",
                 base64(base64Attachment("inner.com", eicar())))},
      {"uuencode in the text", plainMessage(text_uu)},
      {"uuencode in a text part", multipart("Content-Type: text/plain", text_uu)},
      {"multipart without its closing boundary",
       base64Attachment("invoice.com", eicar())
           .substr(0, base64Attachment("invoice.com", eicar()).rfind("--b1--"))},
  };
}

class AntivirusStageTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_.write("db/test.ndb", "Test.EICAR.NDB:0:*:" + hex(eicar()) + "\n"); }
  void writePipeline(const std::string& extra) {
    dir_.write("pipeline.toml", "[[stage]]\ntype = \"antivirus\"\n" + extra);
  }
  std::shared_ptr<const Pipeline> load(const std::string& extra = "database = \"db\"\n") {
    writePipeline(extra);
    return Pipeline::load(dir_.path());
  }
  std::string loadError(const std::string& extra) {
    writePipeline(extra);
    try {
      Pipeline::load(dir_.path());
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  }
  std::string at(int line, int col) {
    return (dir_.path() / "pipeline.toml").string() + ":" + std::to_string(line) + ":" +
           std::to_string(col) + ": ";
  }
  // The one antivirus finding's detail, or "" when there is none.
  static std::string virus(const Verdict& v) {
    for (const auto& s : v.stages) {
      for (const auto& f : s.findings) {
        if (f.stage == "antivirus" && s.error.empty()) {
          return f.detail;
        }
      }
    }
    return "";
  }
  test::TempDir dir_;
};

TEST_F(AntivirusStageTest, PlainEicarIsQuarantinedWithTheVirusName) {
  const auto p = load();
  EXPECT_THAT(p->stageNames(), ::testing::ElementsAre("antivirus"));
  const auto v = test::runPipeline(*p, plainMessage(eicar()));
  EXPECT_EQ(v.action, Action::kQuarantine);
  ASSERT_EQ(v.stages.size(), 1U);
  ASSERT_EQ(v.stages[0].findings.size(), 1U);
  const Finding& f = v.stages[0].findings[0];
  EXPECT_EQ(f.stage, "antivirus");
  EXPECT_EQ(f.rule, "");
  EXPECT_EQ(f.detail, "Test.EICAR.NDB.UNOFFICIAL");
  EXPECT_EQ(f.action, Action::kQuarantine);
}

TEST_F(AntivirusStageTest, ReportsSignatureCountAndDatabaseTime) {
  // Plain signature files carry no build time: the newest file's modification time stands in.
  const auto built = std::chrono::system_clock::now() - std::chrono::hours(30);
  std::filesystem::last_write_time(dir_.path() / "db/test.ndb",
                                   std::filesystem::file_time_type::clock::from_sys(built));
  const auto p = load();
  const auto* av = p->find<AntivirusStage>();
  ASSERT_NE(av, nullptr);
  EXPECT_EQ(av->signatures(), 1U);
  const auto off = av->databaseTime() - built;
  EXPECT_LT(std::chrono::abs(off), std::chrono::seconds(2));
}

TEST_F(AntivirusStageTest, CleanMessageIsAccepted) {
  const auto p = load();
  const auto v = test::runPipeline(*p, base64Attachment("report.txt", "quarterly numbers\n"));
  EXPECT_EQ(v.action, Action::kAccept);
  ASSERT_EQ(v.stages.size(), 1U);
  EXPECT_TRUE(v.stages[0].findings.empty());
  EXPECT_TRUE(v.stages[0].error.empty());
}

TEST_F(AntivirusStageTest, EicarInABase64AttachmentIsFound) {
  const auto p = load();
  const auto v = test::runPipeline(*p, base64Attachment("invoice.com", eicar()));
  EXPECT_EQ(v.action, Action::kQuarantine);
  EXPECT_EQ(virus(v), "Test.EICAR.NDB.UNOFFICIAL");
}

TEST_F(AntivirusStageTest, EicarInAQuotedPrintablePartIsFound) {
  const auto p = load();
  const auto m =
      multipart("Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable",
                quotedPrintable(eicar()));
  ASSERT_EQ(m.find("EICAR"), std::string::npos);
  const auto v = test::runPipeline(*p, m);
  EXPECT_EQ(v.action, Action::kQuarantine);
  EXPECT_EQ(virus(v), "Test.EICAR.NDB.UNOFFICIAL");
}

TEST_F(AntivirusStageTest, EicarInsideAZipAttachmentIsFound) {
  const auto p = load();
  const auto zip = makeZip("readme.com", "padding\n" + eicar(), 64 * 1024);
  const auto v = test::runPipeline(*p, base64Attachment("docs.zip", zip));
  EXPECT_EQ(v.action, Action::kQuarantine);
  EXPECT_EQ(virus(v), "Test.EICAR.NDB.UNOFFICIAL");
}

TEST_F(AntivirusStageTest, EicarInsideANestedMessageIsFound) {
  const auto p = load();
  const std::string inner = base64Attachment("inner.com", eicar());
  const auto m = multipart("Content-Type: message/rfc822", inner);
  const auto v = test::runPipeline(*p, m);
  EXPECT_EQ(v.action, Action::kQuarantine);
  EXPECT_EQ(virus(v), "Test.EICAR.NDB.UNOFFICIAL");
}

TEST_F(AntivirusStageTest, EveryHiddenEicarIsFoundInBothScanModes) {
  for (const char* mode : {"parts", "message"}) {
    const auto p = load(std::string("database = \"db\"\nscan = \"") + mode + "\"\n");
    for (const auto& [what, message] : infectedMessages()) {
      if (what != "plain") {
        ASSERT_EQ(message.find("EICAR"), std::string::npos) << what << ": EICAR readable";
      }
      const auto v = test::runPipeline(*p, message);
      EXPECT_EQ(virus(v), "Test.EICAR.NDB.UNOFFICIAL") << what << ", scan = " << mode;
    }
  }
}

TEST_F(AntivirusStageTest, ScanModeIsPartsOrMessage) {
  EXPECT_THAT(loadError("database = \"db\"\nscan = \"lines\"\n"), HasSubstr(at(4, 8) + "scan: "));
  EXPECT_EQ(test::runPipeline(*load("database = \"db\"\nscan = \"message\"\n"),
                              base64Attachment("report.txt", "quarterly numbers\n"))
                .action,
            Action::kAccept);
}

TEST_F(AntivirusStageTest, PhishingSignaturesAreNoticedByFileType) {
  ClamEngine plain(dir_.path() / "db", {}, dir_.path());
  EXPECT_FALSE(plain.phishingSignatures());
  dir_.write("db/local.pdb", "H:bank.example\n");
  ClamEngine phishing(dir_.path() / "db", {}, dir_.path());
  EXPECT_TRUE(phishing.phishingSignatures());
}

// max_scan_time holds per message in parts mode too: 900 small parts, each scanned far below
// the limit, together above it.
TEST_F(AntivirusStageTest, PartsShareOneScanTimeLimit) {
  std::string body;
  for (int i = 0; i < 900; ++i) {
    body +=
        "--b1\r\nContent-Type: application/octet-stream\r\n\r\npart " + std::to_string(i) + "\r\n";
  }
  const std::string message =
      "From: app@example.test\r\nTo: user@example.test\r\nSubject: parts\r\n"
      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
      body + "--b1--\r\n";
  ASSERT_EQ(wholeMessageReason(MimeView::parse(message), message.size(), false, 100 << 20), "");
  const auto scanWithin = [&](std::chrono::milliseconds limit) {
    AntivirusStage::Options options;
    options.database = dir_.path() / "db";
    options.limits.max_scan_time = limit;
    const AntivirusStage stage(options);
    asio::thread_pool pool(1);
    StageContext ctx(pool);
    const Envelope envelope;
    const MessageView view(envelope, message);
    return stage.evaluate(view, ctx);
  };
  const StageResult over = scanWithin(std::chrono::milliseconds(5));
  ASSERT_EQ(over.findings.size(), 1U);
  EXPECT_EQ(over.findings[0].detail, "Heuristics.Limits.Exceeded.MaxScanTime");
  EXPECT_TRUE(scanWithin(std::chrono::minutes(2)).findings.empty());
}

// The cases where the decoded parts could show less than libclamav's mail parser.
class WholeMessageReasonTest : public ::testing::Test {
 protected:
  static std::string reason(const std::string& raw, bool phishing = false,
                            std::uint64_t max_scan_size = 100 << 20) {
    return std::string(
        wholeMessageReason(MimeView::parse(raw), raw.size(), phishing, max_scan_size));
  }
  static std::string textPart(const std::string& headers, const std::string& body) {
    return multipart(headers, body + "\r\n");
  }
};

TEST_F(WholeMessageReasonTest, PlainPartsNeedNoMailParser) {
  EXPECT_EQ(reason(base64Attachment("report.pdf", "%PDF-1.4\nnumbers\n")), "");
  EXPECT_EQ(reason(plainMessage("begin here: 644 reasons\r\nnot begin 644 x\r\n")), "");
  EXPECT_EQ(reason(textPart("Content-Type: text/plain; charset=utf-8", "caf\xc3\xa9")), "");
  // HTML is only a reason while phishing signatures are loaded.
  EXPECT_EQ(reason(textPart("Content-Type: text/html", "<a href=\"https://x.test\">x</a>")), "");
}

TEST_F(WholeMessageReasonTest, EachReason) {
  EXPECT_EQ(reason(plainMessage("see\r\nbegin 644 tool.com\r\n`\r\nend\r\n")), "uuencode-in-text");
  EXPECT_EQ(reason(textPart("Content-Type: text/plain",
                            "(This file must be converted with BinHex 4.0)\r\n:abc:")),
            "binhex-in-text");
  EXPECT_EQ(reason(textPart("Content-Type: application/ms-tnef", "x")), "tnef");
  EXPECT_EQ(reason(textPart("Content-Type: application/octet-stream\r\n"
                            "Content-Disposition: attachment; filename=WINMAIL.DAT",
                            "x")),
            "tnef");
  EXPECT_EQ(reason(base64Attachment("data.bin", std::string("\x78\x9f\x3e\x22\x01", 5))), "tnef");
  EXPECT_EQ(reason(textPart("Content-Type: text/plain; charset=iso-8859-1", "caf\xe9")),
            "converted-charset");
  EXPECT_EQ(reason(textPart("Content-Type: text/html", "<a href=\"https://x.test\">x</a>"), true),
            "html-with-phishing-signatures");
  const std::string big = base64Attachment("data.bin", std::string(4000, 'x'));
  EXPECT_EQ(reason(big, false, 8000), "scan-size");
  EXPECT_EQ(reason(big, false, 20000), "");
}

TEST_F(WholeMessageReasonTest, MimeProblemsThatCouldHideContentAreReasons) {
  const std::string whole = base64Attachment("invoice.com", "data");
  EXPECT_EQ(reason(whole.substr(0, whole.rfind("--b1--"))), mime_problem::kTruncatedMultipart);
  EXPECT_EQ(reason(multipart("Content-Type: application/octet-stream\r\n"
                             "Content-Transfer-Encoding: base64",
                             "QUJD\r\n=\r\nREVG\r\n")),
            mime_problem::kMalformedBase64);
  // Conflicting names change nothing libclamav would see.
  EXPECT_EQ(reason(multipart("Content-Type: application/pdf; name=a.pdf\r\n"
                             "Content-Disposition: attachment; filename=b.pdf",
                             "%PDF-1.4\r\n")),
            "");
}

TEST_F(AntivirusStageTest, AHugeFileInASmallZipIsNeverClean) {
  // 200 MiB of zeros with EICAR at the end compress to a small zip; with the default limits
  // (100M) ClamAV cannot inspect the file fully, and that must be a finding.
  const auto p = load();
  std::string big(200U << 20, '\0');
  const std::string tail = eicar();
  big.replace(big.size() - tail.size(), tail.size(), tail);
  const auto zip = makeZip("big.bin", big, 4U << 20);
  big.clear();
  big.shrink_to_fit();
  ASSERT_LT(zip.size(), 1U << 20);
  const auto v = test::runPipeline(*p, base64Attachment("big.zip", zip));
  EXPECT_EQ(v.action, Action::kQuarantine);
  EXPECT_FALSE(virus(v).empty());
  EXPECT_TRUE(v.stages[0].error.empty()) << v.stages[0].error;
  std::cout << "[ antivirus ] huge file in small zip: " << virus(v) << "\n";
}

TEST_F(AntivirusStageTest, ExceedingASmallerLimitIsAFinding) {
  const auto p = load("database = \"db\"\nmax_scan_size = \"1M\"\nmax_file_size = \"1M\"\n");
  std::string data(3U << 20, 'a');
  const auto zip = makeZip("data.txt", data, 1U << 20);
  const auto v = test::runPipeline(*p, base64Attachment("data.zip", zip));
  EXPECT_EQ(v.action, Action::kQuarantine);
  EXPECT_THAT(virus(v), StartsWith("Heuristics.Limits.Exceeded"));
}

TEST_F(AntivirusStageTest, OnVirusRejectRejects) {
  const auto p = load("database = \"db\"\non_virus = \"reject\"\n");
  const auto v = test::runPipeline(*p, plainMessage(eicar()));
  EXPECT_EQ(v.action, Action::kReject);
  ASSERT_EQ(v.stages[0].findings.size(), 1U);
  EXPECT_EQ(v.stages[0].findings[0].action, Action::kReject);
}

TEST_F(AntivirusStageTest, OnVirusQuarantineIsExplicitToo) {
  const auto p = load("database = \"db\"\non_virus = \"quarantine\"\non_error = \"tempfail\"\n");
  EXPECT_EQ(test::runPipeline(*p, plainMessage(eicar())).action, Action::kQuarantine);
}

TEST_F(AntivirusStageTest, MissingDatabaseIsAnErrorAtTheDatabaseKey) {
  EXPECT_THAT(loadError("database = \"nowhere\"\n"),
              HasSubstr(at(3, 12) + "database: '" + (dir_.path() / "nowhere").string() +
                        "' is not a directory"));
  EXPECT_THAT(loadError("on_virus = \"reject\"\n"), HasSubstr("database"));
}

TEST_F(AntivirusStageTest, EmptyDatabaseIsAnErrorAtTheDatabaseKey) {
  std::filesystem::create_directories(dir_.path() / "empty");
  const auto err = loadError("database = \"empty\"\n");
  EXPECT_THAT(err, HasSubstr(at(3, 12) + "database: "));
  EXPECT_THAT(err, HasSubstr("no signatures"));
}

TEST_F(AntivirusStageTest, MalformedDatabaseIsAnErrorAtTheDatabaseKey) {
  dir_.write("bad/broken.ndb", "Broken.Sig:0:*:zz\n");
  EXPECT_THAT(loadError("database = \"bad\"\n"), HasSubstr(at(3, 12) + "database: "));
}

TEST_F(AntivirusStageTest, BadLimitsAreErrorsAtTheirKeys) {
  EXPECT_THAT(loadError("database = \"db\"\nmax_scan_size = \"200M\"\n"),
              HasSubstr(at(4, 17) + "max_scan_size: must not be larger than max_file_size"));
  EXPECT_THAT(loadError("database = \"db\"\nmax_file_size = 0\n"),
              HasSubstr(at(4, 17) + "max_file_size: must be between 1 and 1G"));
  EXPECT_THAT(loadError("database = \"db\"\nmax_recursion = 0\n"), HasSubstr("max_recursion"));
  EXPECT_THAT(loadError("database = \"db\"\non_virus = \"tag\"\n"), HasSubstr("on_virus"));
  EXPECT_THAT(loadError("database = \"db\"\nreload = \"1s\"\n"), HasSubstr("unknown key 'reload'"));
}

// temp_dir holds the stage's private scratch folder (e.g. on a tmpfs), which goes with the stage.
TEST_F(AntivirusStageTest, TempDirHoldsTheScratchFolderWhileTheStageLives) {
  const auto scratch = dir_.path() / "scratch";
  std::filesystem::create_directory(scratch);
  auto entries = [&scratch] {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(scratch)) {
      out.push_back(e.path().filename().string());
    }
    return out;
  };
  {
    const auto p = load("database = \"db\"\ntemp_dir = \"" + scratch.string() + "\"\n");
    const auto held = entries();
    ASSERT_EQ(held.size(), 1U);
    EXPECT_TRUE(held[0].starts_with("relayguard-clamav-")) << held[0];
    EXPECT_EQ(std::filesystem::status(scratch / held[0]).permissions(),
              std::filesystem::perms::owner_all);
    const auto v = test::runPipeline(*p, base64Attachment("invoice.com", eicar()));
    EXPECT_EQ(virus(v), "Test.EICAR.NDB.UNOFFICIAL");
  }
  EXPECT_TRUE(entries().empty());
}

// libclamav makes a directory for every scan inside the stage's scratch folder, and when it
// cannot (the folder gone, the tmpfs full) its scan_common() answers "clean" for bytes it never
// looked at. A scan that could not run is an error here, never a clean message.
TEST_F(AntivirusStageTest, AScanThatCannotMakeItsScratchDirectoryIsNeverClean) {
  const auto scratch = dir_.path() / "scratch";
  std::filesystem::create_directory(scratch);
  const auto p = load("database = \"db\"\ntemp_dir = \"" + scratch.string() + "\"\n");
  const auto held = std::filesystem::directory_iterator(scratch)->path();
  std::filesystem::remove_all(held);
  for (const auto& message : {plainMessage(eicar()), base64Attachment("invoice.com", eicar()),
                              base64Attachment("report.txt", "quarterly numbers\n")}) {
    const auto v = test::runPipeline(*p, message);
    EXPECT_EQ(v.action, Action::kTempfail) << message;
    ASSERT_EQ(v.stages.size(), 1U);
    EXPECT_THAT(v.stages[0].error, HasSubstr("ClamAV could not finish the scan"));
  }
  // The folder back, scans work again.
  std::filesystem::create_directory(held);
  EXPECT_EQ(virus(test::runPipeline(*p, base64Attachment("invoice.com", eicar()))),
            "Test.EICAR.NDB.UNOFFICIAL");
  EXPECT_EQ(test::runPipeline(*p, base64Attachment("report.txt", "numbers\n")).action,
            Action::kAccept);
}

// Without temp_dir, the runtime directory systemd names (RuntimeDirectory=relayguard, a tmpfs)
// holds the scratch folder; a RUNTIME_DIRECTORY that is not an absolute directory is ignored.
TEST_F(AntivirusStageTest, RuntimeDirectoryIsTheDefaultTempDir) {
  const auto runtime = dir_.path() / "run";
  std::filesystem::create_directory(runtime);
  const auto scratchIn = [](const std::filesystem::path& d) {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(d)) {
      n += e.path().filename().string().starts_with("relayguard-clamav-") ? 1 : 0;
    }
    return n;
  };
  const std::string value = runtime.string() + ":" + (dir_.path() / "other").string();
  ::setenv("RUNTIME_DIRECTORY", value.c_str(), 1);
  {
    const auto p = load();
    EXPECT_EQ(scratchIn(runtime), 1);
    EXPECT_EQ(virus(test::runPipeline(*p, base64Attachment("invoice.com", eicar()))),
              "Test.EICAR.NDB.UNOFFICIAL");
  }
  EXPECT_EQ(scratchIn(runtime), 0);
  const auto tmp = dir_.path() / "tmp";
  std::filesystem::create_directory(tmp);
  const char* saved = std::getenv("TMPDIR");
  const std::string saved_tmpdir = saved != nullptr ? saved : "";
  ::setenv("TMPDIR", tmp.c_str(), 1);
  ::setenv("RUNTIME_DIRECTORY", "relative/run", 1);
  {
    const auto p = load();
    EXPECT_EQ(scratchIn(tmp), 1);
  }
  ::unsetenv("RUNTIME_DIRECTORY");
  if (saved != nullptr) {
    ::setenv("TMPDIR", saved_tmpdir.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
}

TEST_F(AntivirusStageTest, TempDirMustBeAnExistingAbsoluteDirectory) {
  EXPECT_THAT(loadError("database = \"db\"\ntemp_dir = \"scratch\"\n"),
              HasSubstr(at(4, 12) + "temp_dir: must be an absolute path"));
  EXPECT_THAT(
      loadError("database = \"db\"\ntemp_dir = \"" + (dir_.path() / "absent").string() + "\"\n"),
      HasSubstr("temp_dir: '" + (dir_.path() / "absent").string() + "' is not a directory"));
}

// Runs the message until the verdict has `action` or `timeout` passes; the verdict last seen.
Verdict runUntil(const Pipeline& p, const std::string& m, Action action,
                 std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Verdict v = test::runPipeline(p, m);
  while (v.action != action && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    v = test::runPipeline(p, m);
  }
  return v;
}

TEST_F(AntivirusStageTest, ChangedDatabaseIsReloadedAfterTheInterval) {
  const auto p = load("database = \"db\"\nreload_interval = \"1s\"\n");
  const auto marked = plainMessage("text with " + kMarker + " inside");
  EXPECT_EQ(test::runPipeline(*p, marked).action, Action::kAccept);
  dir_.write("db/extra.ndb", "Test.Marker:0:*:" + hex(kMarker) + "\n");
  const auto v = runUntil(*p, marked, Action::kQuarantine, std::chrono::seconds(10));
  EXPECT_EQ(v.action, Action::kQuarantine);
  EXPECT_EQ(virus(v), "Test.Marker.UNOFFICIAL");
  EXPECT_EQ(virus(test::runPipeline(*p, plainMessage(eicar()))), "Test.EICAR.NDB.UNOFFICIAL");
}

TEST_F(AntivirusStageTest, BrokenUpdateKeepsTheEngineInForce) {
  const auto p = load("database = \"db\"\nreload_interval = \"1s\"\n");
  dir_.write("db/extra.ndb", "Test.Marker:0:*:" + hex(kMarker) + "\nBroken.Sig:0:*:zz\n");
  // Give the reload check several chances to run (and fail).
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    EXPECT_EQ(test::runPipeline(*p, plainMessage(eicar())).action, Action::kQuarantine);
  }
  EXPECT_EQ(test::runPipeline(*p, plainMessage(kMarker)).action, Action::kAccept);
  // Fixing the file is picked up at a later check.
  dir_.write("db/extra.ndb", "Test.Marker:0:*:" + hex(kMarker) + "\n");
  EXPECT_EQ(
      runUntil(*p, plainMessage(kMarker), Action::kQuarantine, std::chrono::seconds(10)).action,
      Action::kQuarantine);
}

TEST_F(AntivirusStageTest, ScansFromFourThreadsDuringSwapsAllGetDefiniteResults) {
  const auto p = load("database = \"db\"\nreload_interval = \"1s\"\n");
  const auto infected = base64Attachment("x.com", eicar());
  const auto clean = plainMessage("nothing to see");
  std::atomic<bool> stop{false};
  std::atomic<int> scans{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        const bool bad = (i + t) % 2 == 0;
        const auto v = test::runPipeline(*p, bad ? infected : clean);
        const bool ok =
            bad ? v.action == Action::kQuarantine && virus(v) == "Test.EICAR.NDB.UNOFFICIAL"
                : v.action == Action::kAccept && v.stages[0].findings.empty();
        wrong += ok ? 0 : 1;
        ++scans;
      }
    });
  }
  // Three database changes, each swapped in while the threads scan.
  for (int n = 0; n < 3; ++n) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    dir_.write(
        "db/extra" + std::to_string(n) + ".ndb",
        "Test.Marker" + std::to_string(n) + ":0:*:" + hex(kMarker + std::to_string(n)) + "\n");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  stop = true;
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(scans.load(), 8);
  EXPECT_EQ(virus(runUntil(*p, plainMessage(kMarker + "2"), Action::kQuarantine,
                           std::chrono::seconds(10))),
            "Test.Marker2.UNOFFICIAL");
}

// Bytes in a file are scanned where they lie, in the page cache through the file's mapping:
// libclamav holds no copy of them in anonymous memory, not even its PDF parser, which wants the
// whole file at once (scanned from a descriptor, libclamav pread() all 20 MiB of this PDF into a
// map of its own). The EICAR string at the end is found, and the pages the scan touched are given
// back afterwards. The same bytes copied into memory show that the measure sees a copy.
TEST_F(AntivirusStageTest, AMappedFileIsScannedWithoutACopyInAnonymousMemory) {
  const auto path = dir_.path() / "big.pdf";
  {
    std::mt19937 random(5);
    std::string pdf = "%PDF-1.4\n";
    pdf.resize(20 << 20);
    for (std::size_t i = 9; i < pdf.size(); ++i) {
      pdf[i] = static_cast<char>(random() & 0xff);
    }
    pdf += "\n" + eicar() + "\n%%EOF\n";
    std::ofstream(path, std::ios::binary) << pdf;
  }
  const ClamEngine engine(dir_.path() / "db", ClamLimits{}, dir_.path());
  engine.scan("warm-up: libclamav loads its unrar library on the first scan");
  const MappedFile file = MappedFile::open(path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const std::size_t file_before = test::residentKib("RssFile");
  ClamEngine::ScanResult result;
  const std::size_t mapped = test::peakAnonGrowthKib([&] {
    result = engine.scan(PagedBytes(file.bytes(), &file, fd), ClamEngine::MailParser::kOn);
  });
  ::close(fd);
  EXPECT_TRUE(result.infected);
  EXPECT_EQ(result.virus, "Test.EICAR.NDB.UNOFFICIAL");
  EXPECT_LT(mapped, 6U * 1024) << "anonymous memory rose by " << mapped << " KiB";
  EXPECT_LT(test::residentKib("RssFile"), file_before + 2 * 1024);

  const std::size_t copied = test::peakAnonGrowthKib([&] {
    const std::string copy(file.bytes());
    EXPECT_TRUE(engine.scan(copy).infected);
  });
  EXPECT_GT(copied, 18U * 1024) << "the sampler misses a 20 MiB copy";
}

// A large attachment decoded into a file (MimeLimits::spill_dir, as the relay sets it) is
// scanned from that file: the EICAR string in the middle of 3 MiB of binary is found.
TEST_F(AntivirusStageTest, EicarInALargeAttachmentKeptInAFileIsFound) {
  std::mt19937 random(11);
  std::string payload(3 << 20, '\0');
  for (auto& c : payload) {
    c = static_cast<char>(random() & 0xff);
  }
  payload.replace(payload.size() / 2, eicar().size(), eicar());
  const auto p = load();
  MimeLimits limits;
  limits.spill_dir = dir_.path();
  const std::string raw = base64Attachment("setup.bin", payload);
  const MessageView view(test::testEnvelope(), raw, limits);
  asio::thread_pool blocking(2);
  asio::io_context io;
  StageContext ctx{blocking};
  auto future = asio::co_spawn(io, p->run(view, ctx), asio::use_future);
  io.run();
  const Verdict v = future.get();
  const auto& parts = view.mime().parts();
  ASSERT_FALSE(parts.empty());
  EXPECT_NE(parts.back().spilled, nullptr);
  EXPECT_EQ(v.action, Action::kQuarantine);
  EXPECT_EQ(virus(v), "Test.EICAR.NDB.UNOFFICIAL");
}

// Text of 4 and 100 KiB is clean; EICAR at the very end of a 3.8 MiB zip (random, so it stays
// that large) is found. (Scan times are bench/antivirus_scan_bench's job.)
TEST_F(AntivirusStageTest, TextIsCleanAndEicarAtTheEndOfALargeZipIsFound) {
  const auto p = load();
  std::string text;
  while (text.size() < 4 * 1024) {
    text += "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n";
  }
  std::string big_text;
  while (big_text.size() < 100 * 1024) {
    big_text += text;
  }
  for (const std::string* body : {&text, &big_text}) {
    const Verdict v = test::runPipeline(*p, plainMessage(*body));
    EXPECT_EQ(v.action, Action::kAccept) << body->size();
    EXPECT_EQ(virus(v), "");
  }
  std::mt19937 random(42);
  std::string payload(3800 * 1024, '\0');
  for (auto& c : payload) {
    c = static_cast<char>(random() & 0xff);
  }
  const Verdict v = test::runPipeline(
      *p, base64Attachment("data.zip",
                           makeZip("data.bin", payload + eicar(), payload.size() + (64 << 10))));
  EXPECT_EQ(v.action, Action::kQuarantine);
  EXPECT_EQ(virus(v), "Test.EICAR.NDB.UNOFFICIAL");
}

}  // namespace
}  // namespace relayguard::filters
