// users_file_test: the users file round trip (mode 0600, atomic rewrite), refusal of files
// readable by group or others, and file:line errors for malformed lines.
#include "core/auth/users_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/auth/password_hash.hpp"
#include "core/config/config_error.hpp"
#include "tests/support/temp_dir.hpp"

namespace relayguard::auth {
namespace {

const std::string kHash = "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA";

std::string errorOf(const std::filesystem::path& file) {
  try {
    UsersFile::load(file);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(UsersFileTest, MissingFileIsEmpty) {
  test::TempDir dir;
  const auto users = UsersFile::load(dir.path() / "users");
  EXPECT_EQ(users.size(), 0U);
  EXPECT_EQ(users.stamp().size, -1);
}

TEST(UsersFileTest, SaveAndLoadRoundTripWithMode0600) {
  test::TempDir dir;
  const auto file = dir.path() / "users";
  UsersFile users;
  EXPECT_TRUE(users.set("alice@example.test", hashPassword("a", HashParameters{1024, 1, 1})));
  EXPECT_TRUE(users.set("bob", kHash));
  EXPECT_FALSE(users.set("bob", kHash));  // replaced
  users.save(file);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  const auto loaded = UsersFile::load(file);
  EXPECT_EQ(loaded.size(), 2U);
  ASSERT_NE(loaded.hashFor("alice@example.test"), nullptr);
  EXPECT_TRUE(verifyPassword(*loaded.hashFor("alice@example.test"), "a"));
  EXPECT_EQ(loaded.hashFor("carol"), nullptr);
  EXPECT_EQ(loaded.stamp(), UsersFile::stampOf(file));
  auto changed = loaded;
  EXPECT_TRUE(changed.remove("bob"));
  EXPECT_FALSE(changed.remove("bob"));
  changed.save(file);
  EXPECT_EQ(UsersFile::load(file).size(), 1U);
}

TEST(UsersFileTest, RefusedWhenGroupOrOthersHaveAccess) {
  test::TempDir dir;
  const auto file = dir.write("users", "bob:" + kHash + "\n");
  ::chmod(file.c_str(), 0640);
  EXPECT_NE(errorOf(file).find(file.string() +
                               ": the users file is readable or writable by group or others"),
            std::string::npos)
      << errorOf(file);
  ::chmod(file.c_str(), 0602);
  EXPECT_NE(errorOf(file), "");
  ::chmod(file.c_str(), 0600);
  EXPECT_EQ(errorOf(file), "");
}

TEST(UsersFileTest, MalformedLinesNameTheirLine) {
  test::TempDir dir;
  auto check = [&](const std::string& content, const std::string& expected) {
    const auto file = dir.write("users", content);
    ::chmod(file.c_str(), 0600);
    EXPECT_EQ(errorOf(file), file.string() + ":" + expected) << content;
  };
  check("# comment\n\nbob\n",
        "3:1: expected NAME:HASH (write this file with `relayguard user add`)");
  check("bob:plaintext\n", "1:5: the hash of user 'bob' is not an argon2id PHC string");
  check("bad name:" + kHash + "\n", "1:1: 'bad name' is not a valid user name");
  check("bob:" + kHash + "\nbob:" + kHash + "\n", "2:1: user 'bob' is listed twice");
}

TEST(UsersFileTest, ValidNames) {
  EXPECT_TRUE(UsersFile::validName("alice"));
  EXPECT_TRUE(UsersFile::validName("alice@example.test"));
  EXPECT_FALSE(UsersFile::validName(""));
  EXPECT_FALSE(UsersFile::validName("a:b"));
  EXPECT_FALSE(UsersFile::validName("a b"));
  EXPECT_FALSE(UsersFile::validName("caf\xc3\xa9"));
  EXPECT_FALSE(UsersFile::validName(std::string(256, 'a')));
}

}  // namespace
}  // namespace relayguard::auth
