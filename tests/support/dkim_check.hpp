// dkim_check: test helpers for DKIM: keys written as the relay expects them, and the
// independent verifier (dkimpy, through tests/support/dkim_verify.py) run on a message.
#pragma once

#include <array>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include <sys/stat.h>
#include <sys/wait.h>

#include "signing/dkim_key.hpp"
#include "signing/dkim_keygen.hpp"
#include "tests/support/temp_dir.hpp"

namespace relayguard::test {

struct TestKey {
  std::filesystem::path file;
  std::string record_name;  // s1._domainkey.example.test
  std::string record;       // v=DKIM1; k=...; p=...
};

// Generates a key, writes it to dir/name (mode 0600) and returns it with its DNS record.
inline TestKey writeTestKey(const std::filesystem::path& dir, const std::string& name,
                            signing::DkimAlgorithm algorithm, const std::string& domain,
                            const std::string& selector) {
  std::filesystem::create_directories(dir);
  const auto key = signing::generateKey(algorithm);
  TestKey out;
  out.file = dir / name;
  signing::writePrivateKey(key.get(), out.file);
  out.record_name = selector + "._domainkey." + domain;
  out.record = signing::dnsRecordFor(key.get(), algorithm);
  return out;
}

struct DkimpyResult {
  int status = -1;     // 0: at least one signature, all pass
  std::string output;  // one "pass ..." / "fail ..." line per signature
};

// Runs dkimpy on `message` with the given DNS TXT records (name -> text).
inline DkimpyResult dkimpyVerify(const std::string& message,
                                 const std::map<std::string, std::string>& records) {
  TempDir dir;
  const auto file = dir.write("message.eml", message);
  std::string cmd = "/usr/bin/python3 '" + std::string(RELAYGUARD_SOURCE_DIR) +
                    "/tests/support/dkim_verify.py' '" + file.string() + "'";
  for (const auto& [name, txt] : records) {
    cmd += " '" + name + "=" + txt + "'";
  }
  cmd += " 2>&1";
  DkimpyResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    throw std::runtime_error("cannot run " + cmd);
  }
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr) {
    r.output += buf.data();
  }
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace relayguard::test
