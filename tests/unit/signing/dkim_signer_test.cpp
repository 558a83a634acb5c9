// dkim_signer_test: signatures made by signing::DkimSigner, checked by an independent verifier
// (dkimpy) over the awkward corners of real mail; the RFC 8463 Appendix A example as a
// known-answer test; the pre-parsed key path; key loading refusals.
#include "signing/dkim_signer.hpp"

#include <algorithm>
#include <ctime>
#include <fstream>
#include <regex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/rsa.h>

#include "core/util/strings.hpp"
#include "signing/author_domain.hpp"
#include "signing/preparsed_key.hpp"
#include "tests/support/dkim_check.hpp"

namespace relayguard::signing {
namespace {

constexpr std::size_t kWindow = PagedBytes::kWindow;

using test::dkimpyVerify;
using test::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

struct Keyed {
  std::shared_ptr<const DkimKey> key;
  std::map<std::string, std::string> dns;
};

Keyed newKey(DkimAlgorithm alg, const std::string& domain = "example.test",
             const std::string& selector = "s1") {
  const auto pkey = generateKey(alg);
  Keyed k;
  k.key = DkimKey::fromPem(domain, selector, alg, privateKeyPem(pkey.get()));
  k.dns[selector + "._domainkey." + domain] = k.key->dnsRecord();
  return k;
}

std::string signedMessage(const DkimSigner& signer, const DkimKey& key, const std::string& m) {
  return "DKIM-Signature: " + signer.sign(m, key) + "\r\n" + m;
}

std::string tagValue(const std::string& field, const std::string& tag) {
  std::string unfolded;
  for (char c : field) {
    if (c != '\r' && c != '\n' && c != '\t' && c != ' ') {
      unfolded += c;
    }
  }
  const std::regex re("(^|;)" + tag + "=([^;]*)");
  std::smatch m;
  return std::regex_search(unfolded, m, re) ? m[2].str() : std::string("<absent>");
}

const std::string kHeaders =
    "From: App <app@example.test>\r\nTo: User <user@example.org>\r\n"
    "Subject: Monthly statement\r\nDate: Mon, 24 Nov 2025 10:00:00 +0000\r\n"
    "Message-ID: <1@example.test>\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n";

// The awkward messages: each must verify for every algorithm and canonicalization. (A bare CR
// is not among them: the relay refuses it in DATA, and libopendkim and dkimpy canonicalize it
// differently under relaxed body canonicalization.)
std::vector<std::pair<std::string, std::string>> awkwardMessages() {
  const std::string long_line(990, 'x');
  return {
      {"plain", kHeaders + "\r\nHello.\r\n"},
      {"trailing blank lines", kHeaders + "\r\nHello.\r\n\r\n\r\n\r\n"},
      {"empty body", kHeaders + "\r\n"},
      {"body of blank lines only", kHeaders + "\r\n\r\n\r\n"},
      {"no final CRLF", kHeaders + "\r\nno newline at the end"},
      {"long lines", kHeaders + "\r\n" + long_line + "\r\n" + long_line + " \t \r\n"},
      {"8-bit UTF-8",
       "From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.test>\r\nTo: u@example.org\r\n"
       "Subject: Grüße aus Köln — ✓\r\nContent-Type: text/plain; charset=utf-8\r\n"
       "Content-Transfer-Encoding: 8bit\r\n\r\nGrüße, 日本語, emoji 🙂\r\n"},
      {"whitespace runs and folding",
       "From:app@example.test\r\nTo:   a@example.org,\r\n\t b@example.org\r\n"
       "Subject:  spaced   out \t \r\n  and folded\r\n\r\n  indented\t\tline  \r\n"
       "trailing spaces   \r\n \t \r\nlast\r\n"},
      {"dot lines", kHeaders + "\r\n.\r\n..\r\n.leading dot\r\n"},
  };
}

class SignAndVerify : public ::testing::TestWithParam<std::tuple<DkimAlgorithm, std::string>> {};

TEST_P(SignAndVerify, DkimpyVerifiesEveryAwkwardMessage) {
  const auto [alg, canon_text] = GetParam();
  const auto canon = parseCanonicalization(canon_text).value();
  DkimSigner signer(SignerOptions{canon.first, canon.second, std::chrono::hours(24 * 7), 0});
  const Keyed k = newKey(alg);
  for (const auto& [label, message] : awkwardMessages()) {
    const auto r = dkimpyVerify(signedMessage(signer, *k.key, message), k.dns);
    EXPECT_EQ(r.status, 0) << label << ": " << r.output;
  }
}

INSTANTIATE_TEST_SUITE_P(AllCombinations, SignAndVerify,
                         ::testing::Combine(::testing::Values(DkimAlgorithm::kRsaSha256,
                                                              DkimAlgorithm::kEd25519Sha256),
                                            ::testing::Values("relaxed/relaxed", "simple/simple",
                                                              "relaxed/simple", "simple/relaxed")));

// A message in a mapped file is hashed a window at a time; windows that end between CR and LF,
// and inside a run of trailing white space, sign as the whole message in memory does.
TEST(DkimSigner, SignsAMappedMessageWindowByWindowAsInMemory) {
  std::string message = kHeaders + "\r\n";
  while (message.size() < kWindow - 1) {
    message += "line of text   \r\n";
  }
  message.resize(kWindow - 1, 'x');
  message += "\r\n";  // the first window ends after the CR
  while (message.size() < 2 * kWindow - 3) {
    message += "more text\r\n";
  }
  message.resize(2 * kWindow - 3, 'y');
  message += " \t \r\n\r\n\r\n tail\r\n";  // the second window ends in white space
  message += std::string(kWindow / 2, 'z') + "\r\n";
  TempDir dir;
  const MappedFile file = MappedFile::open(dir.write("big.eml", message));
  ASSERT_EQ(file.bytes(), message);
  const Keyed k = newKey(DkimAlgorithm::kRsaSha256);
  for (const char* canon_text : {"relaxed/relaxed", "simple/simple"}) {
    const auto canon = parseCanonicalization(canon_text).value();
    DkimSigner signer(SignerOptions{canon.first, canon.second, std::chrono::hours(24), 0});
    const std::string windowed = signer.sign(PagedBytes(file.bytes(), &file), *k.key);
    const std::string whole = signer.sign(message, *k.key);
    EXPECT_EQ(tagValue(windowed, "bh"), tagValue(whole, "bh")) << canon_text;
    const auto r = dkimpyVerify("DKIM-Signature: " + windowed + "\r\n" + message, k.dns);
    EXPECT_EQ(r.status, 0) << canon_text << ": " << r.output;
  }
}

TEST(DkimSigner, FieldHasTheExpectedTagsAndIsWireCorrect) {
  DkimSigner signer(SignerOptions{Canonicalization::kRelaxed, Canonicalization::kRelaxed,
                                  std::chrono::hours(48), 0});
  const Keyed k = newKey(DkimAlgorithm::kRsaSha256);
  const std::string v = signer.sign(kHeaders + "\r\nHello.\r\n", *k.key);
  EXPECT_EQ(tagValue(v, "v"), "1");
  EXPECT_EQ(tagValue(v, "a"), "rsa-sha256");
  EXPECT_EQ(tagValue(v, "c"), "relaxed/relaxed");
  EXPECT_EQ(tagValue(v, "d"), "example.test");
  EXPECT_EQ(tagValue(v, "s"), "s1");
  EXPECT_EQ(tagValue(v, "l"), "<absent>") << "never l=";
  const long t = std::stol(tagValue(v, "t"));
  EXPECT_NEAR(static_cast<double>(t), static_cast<double>(std::time(nullptr)), 60);
  EXPECT_EQ(std::stol(tagValue(v, "x")), t + 48 * 3600);
  // Folded with CRLF + white space only, no bare LF or CR, no line over 80 octets.
  EXPECT_EQ(std::count(v.begin(), v.end(), '\r'), std::count(v.begin(), v.end(), '\n'));
  const std::string field = "DKIM-Signature: " + v;
  std::size_t start = 0;
  while (start < field.size()) {
    const auto eol = std::min(field.find("\r\n", start), field.size());
    EXPECT_LE(eol - start, 80U) << field;
    if (eol < field.size()) {
      ASSERT_LT(eol + 2, field.size());
      EXPECT_TRUE(field[eol + 2] == '\t' || field[eol + 2] == ' ') << field;
    }
    start = eol + 2;
  }
  EXPECT_NE(v.back(), '\n');
}

TEST(DkimSigner, NoExpiryMeansNoXTag) {
  DkimSigner signer;
  const Keyed k = newKey(DkimAlgorithm::kEd25519Sha256);
  const std::string v = signer.sign(kHeaders + "\r\nHello.\r\n", *k.key);
  EXPECT_EQ(tagValue(v, "x"), "<absent>");
  EXPECT_EQ(tagValue(v, "a"), "ed25519-sha256");
}

TEST(DkimSigner, SignsTheCarefulHeaderSetAndOversignsWhatReceiversShow) {
  DkimSigner signer;
  const Keyed k = newKey(DkimAlgorithm::kRsaSha256);
  const std::string m = "Received: from x\r\nReply-To: r@example.test\r\nCc: c@example.org\r\n" +
                        kHeaders +
                        "X-Mailer: app\r\nList-Unsubscribe: <mailto:u@example.test>\r\n"
                        "\r\nHello.\r\n";
  const std::string h = toLower(tagValue(signer.sign(m, *k.key), "h"));
  auto count = [&h](const std::string& name) {
    std::size_t n = 0;
    std::size_t start = 0;
    while (start <= h.size()) {
      const auto end = std::min(h.find(':', start), h.size());
      n += h.substr(start, end - start) == name ? 1 : 0;
      start = end + 1;
    }
    return n;
  };
  for (const char* once_more : {"from", "to", "cc", "subject", "date", "reply-to", "message-id",
                                "mime-version", "content-type", "list-unsubscribe"}) {
    EXPECT_EQ(count(once_more), 2U) << once_more << " in h=" << h;
  }
  // Absent but over-signed: none can be added later.
  EXPECT_EQ(count("content-transfer-encoding"), 1U) << h;
  EXPECT_EQ(count("received"), 0U) << h;
  EXPECT_EQ(count("x-mailer"), 0U) << h;
}

TEST(DkimSigner, AddingAFromSubjectOrToAfterSigningBreaksTheSignature) {
  DkimSigner signer;
  const Keyed k = newKey(DkimAlgorithm::kRsaSha256);
  const std::string m = kHeaders + "\r\nHello.\r\n";
  const std::string field = "DKIM-Signature: " + signer.sign(m, *k.key) + "\r\n";
  ASSERT_EQ(dkimpyVerify(field + m, k.dns).status, 0);
  for (const std::string added :
       {"From: Boss <boss@example.test>\r\n", "Subject: Urgent: new bank details\r\n",
        "To: victim@example.org\r\n", "Cc: other@example.org\r\n"}) {
    EXPECT_NE(dkimpyVerify(field + added + m, k.dns).status, 0) << added;
    EXPECT_NE(dkimpyVerify(field + kHeaders + added + "\r\nHello.\r\n", k.dns).status, 0) << added;
  }
  // Fields nobody signs may be added (a relay's Received:, our own tags).
  EXPECT_EQ(dkimpyVerify("X-Relayguard-Tag: t\r\nReceived: from y\r\n" + field + m, k.dns).status,
            0);
}

TEST(DkimSigner, UsesThePreparsedKey) {
  DkimSigner signer;
  const Keyed rsa = newKey(DkimAlgorithm::kRsaSha256);
  const Keyed ed = newKey(DkimAlgorithm::kEd25519Sha256);
  const auto before = takenCount();
  (void)signer.sign(kHeaders + "\r\nx\r\n", *rsa.key);
  (void)signer.sign(kHeaders + "\r\nx\r\n", *ed.key);
  EXPECT_EQ(takenCount() - before, 2U)
      << "libopendkim parsed the PEM text itself: the PEM_read_bio_PrivateKey override of "
         "signing/preparsed_key.cpp is not in effect";
}

TEST(DkimSigner, SignsFromSeveralThreadsAtOnce) {
  DkimSigner signer;
  const Keyed k = newKey(DkimAlgorithm::kRsaSha256);
  const std::string m = kHeaders + "\r\nHello.\r\n";
  std::vector<std::string> out(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < out.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int n = 0; n < 20; ++n) {
        out[i] = signer.sign(m, *k.key);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (const auto& v : out) {
    EXPECT_EQ(dkimpyVerify("DKIM-Signature: " + v + "\r\n" + m, k.dns).status, 0);
  }
}

// RFC 8463 Appendix A: the Ed25519 key of RFC 8032 7.1 test 1 and the RFC 6376 example message.
const std::string kRfcSeed = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
const std::string kRfcRecord = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
const std::string kRfcMessage =
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.  Are you hungry yet?\r\n"
    "\r\n"
    "Joe.\r\n";
const std::string kRfcSignature =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n";

std::shared_ptr<const DkimKey> rfcKey() {
  unsigned char seed[64];
  const int n = EVP_DecodeBlock(seed, reinterpret_cast<const unsigned char*>(kRfcSeed.data()),
                                static_cast<int>(kRfcSeed.size()));
  EXPECT_GE(n, 32);
  EvpPkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed, 32));
  return DkimKey::fromPem("football.example.com", "brisbane", DkimAlgorithm::kEd25519Sha256,
                          privateKeyPem(pkey.get()));
}

TEST(Rfc8463AppendixA, TheRfcKeyGivesTheRfcPublicKeyRecord) {
  EXPECT_EQ(rfcKey()->dnsRecord(), kRfcRecord);
}

TEST(Rfc8463AppendixA, TheRfcSignedMessageVerifiesWithTheIndependentVerifier) {
  const auto r = dkimpyVerify(kRfcSignature + kRfcMessage,
                              {{"brisbane._domainkey.football.example.com", kRfcRecord}});
  EXPECT_EQ(r.status, 0) << r.output;
  const auto tampered = dkimpyVerify(kRfcSignature + kRfcMessage + "P.S.\r\n",
                                     {{"brisbane._domainkey.football.example.com", kRfcRecord}});
  EXPECT_NE(tampered.status, 0) << "the verifier must be able to fail";
}

TEST(Rfc8463AppendixA, OurSignatureOfTheRfcMessageHasTheRfcBodyHashAndVerifies) {
  DkimSigner signer(SignerOptions{Canonicalization::kRelaxed, Canonicalization::kRelaxed,
                                  std::chrono::seconds(0), 1528637909});
  const auto key = rfcKey();
  const std::string v = signer.sign(kRfcMessage, *key);
  EXPECT_EQ(tagValue(v, "bh"), "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
  EXPECT_EQ(tagValue(v, "t"), "1528637909");
  EXPECT_EQ(tagValue(v, "a"), "ed25519-sha256");
  EXPECT_EQ(v, signer.sign(kRfcMessage, *key)) << "Ed25519 signatures are deterministic";
  const auto r = dkimpyVerify("DKIM-Signature: " + v + "\r\n" + kRfcMessage,
                              {{"brisbane._domainkey.football.example.com", kRfcRecord}});
  EXPECT_EQ(r.status, 0) << r.output;
}

class KeyLoading : public ::testing::Test {
 protected:
  std::string loadError(const std::filesystem::path& file,
                        DkimAlgorithm alg = DkimAlgorithm::kRsaSha256) {
    try {
      DkimKey::load("example.test", "s1", alg, file);
    } catch (const KeyError& e) {
      return e.what();
    }
    return "";
  }
  std::filesystem::path writeKey(
      const std::string& name, const std::string& pem,
      std::filesystem::perms mode = std::filesystem::perms::owner_read |
                                    std::filesystem::perms::owner_write) {
    const auto p = dir_.write(name, pem);
    std::filesystem::permissions(p, mode);
    return p;
  }
  TempDir dir_;
};

TEST_F(KeyLoading, AcceptsOwnerOnlyRsaAndEd25519Keys) {
  const auto rsa = generateKey(DkimAlgorithm::kRsaSha256);
  const auto ed = generateKey(DkimAlgorithm::kEd25519Sha256);
  EXPECT_EQ(loadError(writeKey("rsa.pem", privateKeyPem(rsa.get()))), "");
  EXPECT_EQ(loadError(writeKey("ed.pem", privateKeyPem(ed.get())), DkimAlgorithm::kEd25519Sha256),
            "");
  EXPECT_EQ(DkimKey::load("example.test", "s1", DkimAlgorithm::kRsaSha256, dir_.path() / "rsa.pem")
                ->bits(),
            2048U);
}

TEST_F(KeyLoading, RefusesMissingUnreadableAndExposedKeys) {
  EXPECT_THAT(loadError(dir_.path() / "absent.pem"), HasSubstr("no such file"));
  std::filesystem::create_directories(dir_.path() / "dir.pem");
  EXPECT_THAT(loadError(dir_.path() / "dir.pem"), HasSubstr("not a regular file"));
  const auto rsa = generateKey(DkimAlgorithm::kRsaSha256);
  using std::filesystem::perms;
  const auto group = writeKey("group.pem", privateKeyPem(rsa.get()),
                              perms::owner_read | perms::owner_write | perms::group_read);
  EXPECT_THAT(loadError(group), HasSubstr("mode 0640"));
  const auto world =
      writeKey("world.pem", privateKeyPem(rsa.get()), perms::owner_read | perms::others_read);
  EXPECT_THAT(loadError(world), HasSubstr("mode 0404"));
}

TEST_F(KeyLoading, RefusesKeysThatDoNotParseOrDoNotFit) {
  EXPECT_THAT(loadError(writeKey("junk.pem", "not a key\n")), HasSubstr("not a PEM private key"));
  EXPECT_THAT(loadError(writeKey("cut.pem",
                                 "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN\n"
                                 "-----END PRIVATE KEY-----\n")),
              HasSubstr("does not parse"));
  const auto ed = generateKey(DkimAlgorithm::kEd25519Sha256);
  EXPECT_THAT(loadError(writeKey("ed.pem", privateKeyPem(ed.get()))), HasSubstr("not an RSA key"));
  const auto rsa = generateKey(DkimAlgorithm::kRsaSha256);
  EXPECT_THAT(
      loadError(writeKey("rsa.pem", privateKeyPem(rsa.get())), DkimAlgorithm::kEd25519Sha256),
      HasSubstr("not an Ed25519 key"));
  // 1024 bits: made directly with OpenSSL (generateKey refuses it too).
  EVP_PKEY* small = EVP_RSA_gen(1024);
  ASSERT_NE(small, nullptr);
  const std::string small_pem = privateKeyPem(small);
  const std::string small_error = loadError(writeKey("small.pem", small_pem));
  EXPECT_THAT(small_error, HasSubstr("1024 bits: at least 2048"));
  // The key was read and parsed before this error: none of its text may be in the message.
  EXPECT_THAT(small_error, Not(HasSubstr(small_pem.substr(40, 20))));
  EVP_PKEY_free(small);
  EXPECT_THROW(generateKey(DkimAlgorithm::kRsaSha256, 1024), KeyError);
}

TEST(Keygen, WritesAnOwnerOnlyKeyOnceAndSplitsTheRecord) {
  TempDir dir;
  const auto key = generateKey(DkimAlgorithm::kRsaSha256);
  const auto file = dir.path() / "k.pem";
  writePrivateKey(key.get(), file);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  EXPECT_THROW(writePrivateKey(key.get(), file), KeyError) << "never replaces a key";
  const std::string record = dnsRecordFor(key.get(), DkimAlgorithm::kRsaSha256);
  EXPECT_GT(record.size(), 255U);
  const auto parts = txtStrings(record);
  ASSERT_EQ(parts.size(), 2U);
  EXPECT_EQ(parts[0].size(), 255U);
  EXPECT_EQ(parts[0] + parts[1], record);
  const std::string zone = zoneFileRecord("s1", "example.test", record);
  EXPECT_EQ(zone,
            "s1._domainkey.example.test. IN TXT ( \"" + parts[0] + "\" \"" + parts[1] + "\" )");
}

TEST(AuthorDomainTest, ReadsTheOneFromDomain) {
  EXPECT_EQ(authorDomain("From: \"Joe, Jr.\" <joe@Mail.Example.TEST.>\r\n\r\nx").domain,
            "mail.example.test");
  EXPECT_EQ(authorDomain("Subject: x\r\n\r\nx").status, AuthorDomain::Status::kNoFrom);
  EXPECT_EQ(authorDomain("From: undisclosed:;\r\n\r\nx").status, AuthorDomain::Status::kNoFrom);
  EXPECT_EQ(authorDomain("From: a@example.test\r\nFrom: b@example.test\r\n\r\nx").status,
            AuthorDomain::Status::kSeveralFrom);
  EXPECT_EQ(authorDomain("From: a@example.test, b@evil.test\r\n\r\nx").status,
            AuthorDomain::Status::kMixedDomains);
  EXPECT_EQ(authorDomain("From: a@example.test, b@example.test\r\n\r\nx").domain, "example.test");
  std::string huge = "From: a@example.test";
  while (huge.size() < 20000) {
    huge += ",\r\n a@example.test";
  }
  EXPECT_EQ(authorDomain(huge + "\r\n\r\nx").status, AuthorDomain::Status::kNoFrom);
  EXPECT_TRUE(domainMatches("mail.example.test", "example.test"));
  EXPECT_TRUE(domainMatches("example.test", "example.test"));
  EXPECT_FALSE(domainMatches("badexample.test", "example.test"));
  EXPECT_FALSE(domainMatches("example.test", "mail.example.test"));
}

}  // namespace
}  // namespace relayguard::signing
