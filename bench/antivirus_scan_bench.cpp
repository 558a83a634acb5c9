// antivirus_scan_bench: what one libclamav scan of a message costs, two ways, for the messages
// bench/compare.py sends (a text part with two URLs and a base64 PDF attachment of random bytes,
// 4 KiB and 100 KiB):
//   whole message  one scan of the raw message with every parser on (the antivirus stage with
//                  scan = "message", or when wholeMessageReason() asks for it): libclamav's own
//                  mail parser splits and decodes the MIME parts, writing a scratch directory
//                  and a file per part
//   raw + parts    the raw message with CL_SCAN_PARSE_MAIL off, then each leaf part as decoded
//                  by relayguard's MIME view, every parser on (the stage's default, scan =
//                  "parts"), timed apart; the MIME view's own parse is not counted, since the
//                  rule stages need it anyway
// libclamav's clean cache is disabled, or every scan after the first of the same bytes would be
// a cache hit. Scratch files go to /dev/shm when it exists (as in the benchmark), else $TMPDIR.
// Usage: antivirus_scan_bench [iterations] (default 300). Prints microseconds per message.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <unistd.h>

#include "core/message/mime_view.hpp"
#include "filters/antivirus/clamav_engine.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// compare.py's make_message: about `size` bytes on the wire, CRLF line ends.
std::string benchMessage(std::size_t size, std::mt19937& rng) {
  const std::string text =
      "Hello,\r\n\r\nplease find the quarterly report attached; the figures are also on\r\n"
      "https://docs.example.org/reports/q3 and https://intranet.example.test/finance.\r\n\r\n"
      "Regards,\r\nThe benchmark\r\n";
  const std::string head =
      "From: Bench <bench@example.test>\r\nTo: <sink@sink.test>\r\nSubject: Quarterly report\r\n"
      "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n\r\n" +
      text +
      "\r\n--b1\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n"
      "Content-Transfer-Encoding: base64\r\n"
      "Content-Disposition: attachment; filename=\"report.pdf\"\r\n\r\n";
  const std::string tail = "\r\n--b1--\r\n";
  const std::size_t room = size > head.size() + tail.size() ? size - head.size() - tail.size() : 0;
  std::string pdf = "%PDF-1.4\n";
  pdf.resize(std::max<std::size_t>(pdf.size(), room * 57 / 78));
  for (std::size_t i = 9; i < pdf.size(); ++i) {
    pdf[i] = static_cast<char>(rng() & 0xff);
  }
  std::string out = head;
  for (std::size_t at = 0; at < pdf.size(); at += 57) {  // base64 lines of 76 characters
    const std::size_t n = std::min<std::size_t>(57, pdf.size() - at);
    unsigned char line[80];
    const int len = EVP_EncodeBlock(line, reinterpret_cast<const unsigned char*>(pdf.data() + at),
                                    static_cast<int>(n));
    out.append(reinterpret_cast<const char*>(line), static_cast<std::size_t>(len));
    out += "\r\n";
  }
  out.resize(out.size() - 2);
  return out + tail;
}

using relayguard::filters::ClamEngine;

// One scan from memory, as the antivirus stage makes it; throws unless clean.
void scan(const ClamEngine& engine, std::string_view bytes, ClamEngine::MailParser mail) {
  const ClamEngine::ScanResult result = engine.scan(bytes, mail, "bench");
  if (result.infected) {
    throw std::runtime_error("scan: " + result.virus);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 300;
  if (iterations <= 0) {
    std::fprintf(stderr, "usage: antivirus_scan_bench [iterations]\n");
    return 2;
  }
  namespace fs = std::filesystem;
  const fs::path work = fs::temp_directory_path() / ("rg-av-bench-" + std::to_string(::getpid()));
  const fs::path db = work / "db";
  const fs::path scratch =
      fs::is_directory("/dev/shm") ? fs::path("/dev/shm") / work.filename() : work / "scratch";
  fs::create_directories(db);
  fs::create_directories(scratch);
  // EICAR, hex-encoded, as in samples/clamav (a clean message must stay clean).
  std::ofstream(db / "bench.ndb")
      << "Bench.EICAR:0:*:58354f2150254041505b345c505a58353428505e2937434329377d2443432937647d24"
         "45494341522d5354414e444152442d414e544956495255532d544553542d46494c452124482b482a\n";
  int status = 0;
  try {
    const ClamEngine engine(db, relayguard::filters::ClamLimits{}, scratch,
                            ClamEngine::CleanCache::kOff);
    std::mt19937 rng(42);
    for (const std::size_t size : {std::size_t{4096}, std::size_t{102400}}) {
      std::vector<std::string> messages;
      for (int i = 0; i < 16; ++i) {
        messages.push_back(benchMessage(size, rng));
      }
      std::vector<relayguard::MimeView> views;
      for (const auto& m : messages) {
        views.push_back(relayguard::MimeView::parse(m));
      }
      const auto time = [&](auto&& one) {
        one(0);  // warm up
        const auto start = Clock::now();
        for (int i = 0; i < iterations; ++i) {
          one(static_cast<std::size_t>(i) % messages.size());
        }
        return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / iterations;
      };
      const double whole =
          time([&](std::size_t i) { scan(engine, messages[i], ClamEngine::MailParser::kOn); });
      const double raw =
          time([&](std::size_t i) { scan(engine, messages[i], ClamEngine::MailParser::kOff); });
      const double parts = time([&](std::size_t i) {
        for (const auto& part : views[i].parts()) {
          if (!part.body.empty()) {
            scan(engine, part.body, ClamEngine::MailParser::kOn);
          }
        }
      });
      std::printf("%6zu bytes: whole message %8.1f us   raw %8.1f us + decoded parts %8.1f us\n",
                  messages[0].size(), whole, raw, parts);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "antivirus_scan_bench: %s\n", e.what());
    status = 1;
  }
  std::error_code ec;
  fs::remove_all(scratch, ec);
  fs::remove_all(work, ec);
  return status;
}
