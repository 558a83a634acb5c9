// dsn_test: the bounce (RFC 3464) builder: structure, per-recipient status fields, and that only
// the original headers travel back.
#include "core/delivery/dsn.hpp"

#include <gtest/gtest.h>

namespace relayguard::delivery {
namespace {

Address addr(const char* text) {
  return *Address::parseMailbox(text);
}

DsnInput sampleInput(const std::string& original) {
  DsnInput in;
  in.reporting_host = "relay.example.test";
  in.queue_id = "01J0V668SCLIDG0FN3MD";
  in.original_sender = addr("sender@app.test");
  in.arrival = fromUnixSeconds(1'700'000'000);
  in.now = fromUnixSeconds(1'700'000'100);
  in.message_id = "BOUNCEID@relay.example.test";
  in.original_message = original;
  in.recipients.push_back(
      {addr("bad@ext.test"), "550 5.1.1 no such user", "mx.ext.test:25", false});
  return in;
}

TEST(Dsn, StatusComesFromTheEnhancedCode) {
  EXPECT_EQ(statusOf("550 5.1.1 no such user", false), "5.1.1");
  EXPECT_EQ(statusOf("552 5.3.4 too big", false), "5.3.4");
  EXPECT_EQ(statusOf("550 mailbox unavailable", false), "5.0.0");
  EXPECT_EQ(statusOf("451 try later", false), "4.0.0");
  EXPECT_EQ(statusOf("550 5.1.1 whatever", true), "4.4.7");
  EXPECT_EQ(statusOf("", false), "5.0.0");
  EXPECT_EQ(statusOf("550 5.x.1 bad", false), "5.0.0");
}

TEST(Dsn, IsAMultipartReportAddressedToTheSender) {
  const std::string original = "Subject: hello\r\nFrom: sender@app.test\r\n\r\nsecret body\r\n";
  const std::string dsn = buildDsn(sampleInput(original));
  EXPECT_NE(dsn.find("To: <sender@app.test>\r\n"), std::string::npos);
  EXPECT_NE(dsn.find("Content-Type: multipart/report; report-type=delivery-status;"),
            std::string::npos);
  EXPECT_NE(dsn.find("Auto-Submitted: auto-replied\r\n"), std::string::npos);
  EXPECT_NE(dsn.find("Message-ID: <BOUNCEID@relay.example.test>\r\n"), std::string::npos);
  EXPECT_NE(dsn.find("Reporting-MTA: dns; relay.example.test\r\n"), std::string::npos);
  EXPECT_NE(dsn.find("Final-Recipient: rfc822; bad@ext.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
                     "Remote-MTA: dns; mx.ext.test:25\r\n"
                     "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"),
            std::string::npos);
}

TEST(Dsn, ReturnsHeadersButNeverTheBody) {
  const std::string original = "Subject: hello\r\nFrom: sender@app.test\r\n\r\nsecret body\r\n";
  const std::string dsn = buildDsn(sampleInput(original));
  EXPECT_NE(dsn.find("Content-Type: text/rfc822-headers"), std::string::npos);
  EXPECT_NE(dsn.find("Subject: hello\r\nFrom: sender@app.test\r\n"), std::string::npos);
  EXPECT_EQ(dsn.find("secret body"), std::string::npos);
}

TEST(Dsn, EveryPartUsesTheDeclaredBoundaryAndLinesEndInCrlf) {
  const std::string dsn = buildDsn(sampleInput("Subject: x\r\n\r\nbody\r\n"));
  const auto b = dsn.find("boundary=\"");
  ASSERT_NE(b, std::string::npos);
  const auto end = dsn.find('"', b + 10);
  const std::string boundary = dsn.substr(b + 10, end - b - 10);
  std::size_t parts = 0;
  for (auto pos = dsn.find("\r\n--" + boundary + "\r\n"); pos != std::string::npos;
       pos = dsn.find("\r\n--" + boundary + "\r\n", pos + 1)) {
    ++parts;
  }
  EXPECT_EQ(parts, 3U);
  EXPECT_TRUE(dsn.ends_with("\r\n--" + boundary + "--\r\n"));
  for (std::size_t i = 0; i < dsn.size(); ++i) {
    if (dsn[i] == '\n') {
      ASSERT_GT(i, 0U);
      EXPECT_EQ(dsn[i - 1], '\r') << "bare LF at offset " << i;
    }
  }
}

TEST(Dsn, ExpiredRecipientsSayWhy) {
  auto in = sampleInput("Subject: x\r\n\r\nbody\r\n");
  in.recipients = {
      {addr("slow@ext.test"), "expired after 9 attempt(s); last error: 451 4.3.0 busy", "", true}};
  const std::string dsn = buildDsn(in);
  EXPECT_NE(dsn.find("Status: 4.4.7\r\n"), std::string::npos);
  EXPECT_NE(dsn.find("<slow@ext.test>: delivery time expired"), std::string::npos);
  EXPECT_EQ(dsn.find("Remote-MTA"), std::string::npos);
}

}  // namespace
}  // namespace relayguard::delivery
