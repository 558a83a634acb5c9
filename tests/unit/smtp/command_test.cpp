// command_test: SMTP command-line parsing (verbs, MAIL FROM / RCPT TO paths and parameters).
#include "core/smtp/command.hpp"

#include <gtest/gtest.h>

namespace relayguard::smtp {
namespace {

TEST(Command, VerbsAreCaseInsensitive) {
  EXPECT_EQ(parseCommand("EHLO client.example").verb, Verb::kEhlo);
  EXPECT_EQ(parseCommand("ehlo client.example").verb, Verb::kEhlo);
  EXPECT_EQ(parseCommand("eHlO client.example").verb, Verb::kEhlo);
  EXPECT_EQ(parseCommand("helo x").verb, Verb::kHelo);
  EXPECT_EQ(parseCommand("Mail FROM:<a@b.example>").verb, Verb::kMail);
  EXPECT_EQ(parseCommand("rcpt TO:<a@b.example>").verb, Verb::kRcpt);
  EXPECT_EQ(parseCommand("data").verb, Verb::kData);
  EXPECT_EQ(parseCommand("RSET").verb, Verb::kRset);
  EXPECT_EQ(parseCommand("noop").verb, Verb::kNoop);
  EXPECT_EQ(parseCommand("QuIt").verb, Verb::kQuit);
  EXPECT_EQ(parseCommand("vrfy x").verb, Verb::kVrfy);
  EXPECT_EQ(parseCommand("expn x").verb, Verb::kExpn);
  EXPECT_EQ(parseCommand("help").verb, Verb::kHelp);
  EXPECT_EQ(parseCommand("starttls").verb, Verb::kStartTls);
  EXPECT_EQ(parseCommand("auth PLAIN").verb, Verb::kAuth);
  EXPECT_EQ(parseCommand("BDAT 10 LAST").verb, Verb::kBdat);
}

TEST(Command, KeepsVerbTextAndTrimmedArgument) {
  const auto cmd = parseCommand("ehlo   client.example  ");
  EXPECT_EQ(cmd.verb, Verb::kEhlo);
  EXPECT_EQ(cmd.verb_text, "ehlo");
  EXPECT_EQ(cmd.argument, "client.example");

  const auto bare = parseCommand("QUIT");
  EXPECT_EQ(bare.verb_text, "QUIT");
  EXPECT_EQ(bare.argument, "");
}

TEST(Command, UnknownVerbs) {
  const auto cmd = parseCommand("XYZZY plugh");
  EXPECT_EQ(cmd.verb, Verb::kUnknown);
  EXPECT_EQ(cmd.verb_text, "XYZZY");
  EXPECT_EQ(cmd.argument, "plugh");
  EXPECT_EQ(parseCommand("").verb, Verb::kUnknown);
  EXPECT_EQ(parseCommand("EHL").verb, Verb::kUnknown);
  EXPECT_EQ(parseCommand("EHLOX").verb, Verb::kUnknown);
  EXPECT_EQ(parseCommand(" EHLO x").verb, Verb::kUnknown);
  EXPECT_EQ(parseCommand("MAIL\tFROM:<a@b>").verb, Verb::kUnknown);
  EXPECT_EQ(parseCommand("GET / HTTP/1.1").verb, Verb::kUnknown);
}

TEST(Command, MailFromWithoutSpaceAfterColon) {
  const auto cmd = parseCommand("MAIL FROM:<alice@example.com>");
  ASSERT_EQ(cmd.verb, Verb::kMail);
  const auto r = parsePathArgument(cmd.argument, "FROM:");
  ASSERT_TRUE(r.value.has_value()) << r.error;
  EXPECT_EQ(r.value->path, "<alice@example.com>");
  EXPECT_TRUE(r.value->params.empty());
  EXPECT_TRUE(r.error.empty());
}

TEST(Command, MailFromWithSpaceAfterColon) {
  const auto r = parsePathArgument("FROM: <alice@example.com>", "FROM:");
  ASSERT_TRUE(r.value.has_value()) << r.error;
  EXPECT_EQ(r.value->path, "<alice@example.com>");
  const auto two = parsePathArgument("FROM:  \t<alice@example.com>", "FROM:");
  ASSERT_TRUE(two.value.has_value()) << two.error;
  EXPECT_EQ(two.value->path, "<alice@example.com>");
}

TEST(Command, KeywordIsCaseInsensitive) {
  const auto r = parsePathArgument("to:<bob@example.com>", "TO:");
  ASSERT_TRUE(r.value.has_value()) << r.error;
  EXPECT_EQ(r.value->path, "<bob@example.com>");
  EXPECT_TRUE(parsePathArgument("From:<>", "FROM:").value.has_value());
}

TEST(Command, WrongKeywordIsRefused) {
  const auto r = parsePathArgument("TO:<bob@example.com>", "FROM:");
  EXPECT_FALSE(r.value.has_value());
  EXPECT_NE(r.error.find("FROM:"), std::string::npos) << r.error;
  EXPECT_FALSE(parsePathArgument("FROM <a@b.example>", "FROM:").value.has_value());
  EXPECT_FALSE(parsePathArgument("FROM :<a@b.example>", "FROM:").value.has_value());
  EXPECT_FALSE(parsePathArgument("", "FROM:").value.has_value());
}

TEST(Command, NullReversePath) {
  const auto r = parsePathArgument("FROM:<>", "FROM:");
  ASSERT_TRUE(r.value.has_value()) << r.error;
  EXPECT_EQ(r.value->path, "<>");
}

TEST(Command, ParametersAreParsedAndUppercased) {
  const auto r =
      parsePathArgument("FROM:<a@example.com> size=1000 Body=8BITMIME smtputf8 ret=HDRS", "FROM:");
  ASSERT_TRUE(r.value.has_value()) << r.error;
  EXPECT_EQ(r.value->path, "<a@example.com>");
  ASSERT_EQ(r.value->params.size(), 4U);
  EXPECT_EQ(r.value->params[0].keyword, "SIZE");
  EXPECT_EQ(r.value->params[0].value, "1000");
  EXPECT_EQ(r.value->params[1].keyword, "BODY");
  EXPECT_EQ(r.value->params[1].value, "8BITMIME");
  EXPECT_EQ(r.value->params[2].keyword, "SMTPUTF8");
  EXPECT_EQ(r.value->params[2].value, "");
  EXPECT_EQ(r.value->params[3].keyword, "RET");
  EXPECT_EQ(r.value->params[3].value, "HDRS");
}

TEST(Command, ParameterValuesKeepTheirCase) {
  const auto r = parsePathArgument("TO:<b@example.com> ORCPT=rfc822;Bob@Example.com", "TO:");
  ASSERT_TRUE(r.value.has_value()) << r.error;
  ASSERT_EQ(r.value->params.size(), 1U);
  EXPECT_EQ(r.value->params[0].keyword, "ORCPT");
  EXPECT_EQ(r.value->params[0].value, "rfc822;Bob@Example.com");
}

TEST(Command, ParametersSeparatedBySeveralSpaces) {
  const auto r = parsePathArgument("FROM:<a@example.com>   SIZE=5    BODY=7BIT", "FROM:");
  ASSERT_TRUE(r.value.has_value()) << r.error;
  ASSERT_EQ(r.value->params.size(), 2U);
  EXPECT_EQ(r.value->params[0].keyword, "SIZE");
  EXPECT_EQ(r.value->params[1].keyword, "BODY");
}

TEST(Command, RefusesBadParameterNames) {
  EXPECT_FALSE(parsePathArgument("FROM:<a@example.com> =5", "FROM:").value.has_value());
  EXPECT_FALSE(parsePathArgument("FROM:<a@example.com> SI_ZE=5", "FROM:").value.has_value());
  EXPECT_FALSE(parsePathArgument("FROM:<a@example.com> SIZE:5", "FROM:").value.has_value());
  const auto r = parsePathArgument("FROM:<a@example.com> S\xc3\xa9=1", "FROM:");
  EXPECT_FALSE(r.value.has_value());
  EXPECT_FALSE(r.error.empty());
}

TEST(Command, QuotedLocalPartMayContainClosingBracket) {
  const auto r = parsePathArgument("FROM:<\"odd>name\"@example.com> SIZE=10", "FROM:");
  ASSERT_TRUE(r.value.has_value()) << r.error;
  EXPECT_EQ(r.value->path, "<\"odd>name\"@example.com>");
  ASSERT_EQ(r.value->params.size(), 1U);
  EXPECT_EQ(r.value->params[0].keyword, "SIZE");
  EXPECT_EQ(r.value->params[0].value, "10");

  const auto escaped = parsePathArgument("TO:<\"a\\\">\"@example.com>", "TO:");
  ASSERT_TRUE(escaped.value.has_value()) << escaped.error;
  EXPECT_EQ(escaped.value->path, "<\"a\\\">\"@example.com>");
}

TEST(Command, RefusesGarbageAfterAddress) {
  const auto r = parsePathArgument("FROM:<a@example.com>junk", "FROM:");
  EXPECT_FALSE(r.value.has_value());
  EXPECT_NE(r.error.find("garbage"), std::string::npos) << r.error;
  EXPECT_FALSE(parsePathArgument("FROM:<a@example.com>>", "FROM:").value.has_value());
  EXPECT_FALSE(parsePathArgument("FROM:<a@example.com><b@example.com>", "FROM:").value.has_value());
}

TEST(Command, RefusesMissingBrackets) {
  const auto bare = parsePathArgument("FROM:a@example.com", "FROM:");
  EXPECT_FALSE(bare.value.has_value());
  EXPECT_NE(bare.error.find("<>"), std::string::npos) << bare.error;
  EXPECT_FALSE(parsePathArgument("FROM:", "FROM:").value.has_value());
  EXPECT_FALSE(parsePathArgument("FROM: ", "FROM:").value.has_value());

  const auto open = parsePathArgument("FROM:<a@example.com", "FROM:");
  EXPECT_FALSE(open.value.has_value());
  EXPECT_NE(open.error.find("unterminated"), std::string::npos) << open.error;
  EXPECT_FALSE(parsePathArgument("FROM:<\"a>@example.com", "FROM:").value.has_value());
  EXPECT_FALSE(parsePathArgument("FROM:<a<b@example.com>", "FROM:").value.has_value());
}

}  // namespace
}  // namespace relayguard::smtp
