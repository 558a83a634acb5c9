// observability_config_test: the [admin] section (the /metrics and /healthz listener): absent,
// default address, explicit addresses, and the errors for names, non-loopback addresses and
// unknown keys; the [log] section (format and level).
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "core/config/config.hpp"
#include "tests/support/temp_dir.hpp"

namespace relayguard {
namespace {

class ObservabilityConfigTest : public ::testing::Test {
 protected:
  Config load(std::string_view toml) {
    return Config::load(
        dir_.write("relayguard.toml", "hostname = \"h.example\"\n" + std::string(toml)));
  }
  std::string error(std::string_view toml) {
    try {
      load(toml);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }
  std::string at(unsigned line, unsigned col) const {
    return (dir_.path() / "relayguard.toml").string() + ":" + std::to_string(line) + ":" +
           std::to_string(col) + ": ";
  }
  test::TempDir dir_;
};

TEST_F(ObservabilityConfigTest, AbsentSectionMeansNoAdminListener) {
  EXPECT_FALSE(load("").admin.has_value());
}

TEST_F(ObservabilityConfigTest, EmptySectionListensOnLoopback9025) {
  const Config c = load("[admin]\n");
  ASSERT_TRUE(c.admin.has_value());
  EXPECT_EQ(c.admin->address.toString(), "127.0.0.1:9025");
  EXPECT_FALSE(c.admin->allow_remote);
}

TEST_F(ObservabilityConfigTest, LoopbackAddresses) {
  EXPECT_EQ(load("[admin]\naddress = \"127.0.0.2:9100\"\n").admin->address.port, 9100);
  EXPECT_EQ(load("[admin]\naddress = \"[::1]:9100\"\n").admin->address.host, "::1");
}

TEST_F(ObservabilityConfigTest, NonLoopbackNeedsAllowRemote) {
  const std::string e = error("[admin]\naddress = \"0.0.0.0:9025\"\n");
  EXPECT_TRUE(e.starts_with(at(3, 11))) << e;
  EXPECT_NE(e.find("allow_remote = true"), std::string::npos) << e;
  const Config c = load("[admin]\naddress = \"192.0.2.5:9025\"\nallow_remote = true\n");
  EXPECT_TRUE(c.admin->allow_remote);
  EXPECT_EQ(c.admin->address.host, "192.0.2.5");
}

TEST_F(ObservabilityConfigTest, Errors) {
  EXPECT_TRUE(error("[admin]\naddress = \"localhost:9025\"\n").starts_with(at(3, 11)));
  EXPECT_NE(error("[admin]\naddress = \"127.0.0.1\"\n").find("not an address:port"),
            std::string::npos);
  const std::string unknown = error("[admin]\nadress = \"127.0.0.1:1\"\n");
  EXPECT_TRUE(unknown.starts_with(at(3, 1))) << unknown;
  EXPECT_NE(unknown.find("unknown key 'adress'"), std::string::npos) << unknown;
}

TEST_F(ObservabilityConfigTest, LogDefaultsToTextAtInfo) {
  const Config c = load("");
  EXPECT_EQ(c.log.format, log::Format::kText);
  EXPECT_EQ(c.log.level, "info");
}

TEST_F(ObservabilityConfigTest, LogFormatAndLevel) {
  const Config c = load("[log]\nformat = \"json\"\nlevel = \"debug\"\n");
  EXPECT_EQ(c.log.format, log::Format::kJson);
  EXPECT_EQ(c.log.level, "debug");
}

TEST_F(ObservabilityConfigTest, LogErrors) {
  EXPECT_TRUE(error("[log]\nformat = \"xml\"\n").starts_with(at(3, 10)));
  EXPECT_TRUE(error("[log]\nlevel = \"loud\"\n").starts_with(at(3, 9)));
  EXPECT_NE(error("[log]\nfile = \"x\"\n").find("unknown key 'file'"), std::string::npos);
}

}  // namespace
}  // namespace relayguard
