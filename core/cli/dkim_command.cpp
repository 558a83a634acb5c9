// dkim_command: DKIM key management.
//   dkim keygen --domain D --selector S [--algorithm rsa-sha256|ed25519-sha256] [--bits N]
//     --out FILE: writes a new private key to FILE (mode 0600; an existing FILE is never
//     replaced) and prints the TXT record to publish at S._domainkey.D, split into 255-byte
//     strings. Needs no configuration file.
#include <iostream>

#include "core/cli/commands.hpp"
#include "core/util/strings.hpp"
#include "signing/dkim_keygen.hpp"

namespace relayguard::cli {
namespace {

struct KeygenArgs {
  std::string domain;
  std::string selector;
  std::string algorithm = "rsa-sha256";
  unsigned bits = signing::kMinRsaBits;
  std::string out;
};

int keygen(const KeygenArgs& args) {
  const std::string domain = domainKey(args.domain);
  if (!signing::isDnsName(domain)) {
    return fail("--domain: '" + args.domain + "' is not a domain name");
  }
  if (!signing::isDnsName(args.selector)) {
    return fail("--selector: '" + args.selector + "' is not a valid selector (a DNS name)");
  }
  const auto algorithm = signing::parseAlgorithm(args.algorithm).value();
  try {
    const signing::EvpPkeyPtr key = signing::generateKey(algorithm, args.bits);
    signing::writePrivateKey(key.get(), args.out);
    const std::string record = signing::dnsRecordFor(key.get(), algorithm);
    std::cerr << "wrote " << signing::toString(algorithm) << " private key " << args.out
              << " (mode 0600); publish this TXT record:\n";
    std::cout << signing::zoneFileRecord(args.selector, domain, record) << "\n";
    return 0;
  } catch (const signing::KeyError& e) {
    return fail(e.what());
  }
}

}  // namespace

void addDkimCommand(CLI::App& app, const GlobalOptions&, Runner& run) {
  auto* dkim = app.add_subcommand("dkim", "DKIM signing keys");
  dkim->require_subcommand(1);
  auto args = std::make_shared<KeygenArgs>();
  auto* cmd = dkim->add_subcommand("keygen", "create a signing key and print its DNS TXT record");
  cmd->add_option("--domain", args->domain, "the signing domain (d=)")->required();
  cmd->add_option("--selector", args->selector, "the selector (s=)")->required();
  cmd->add_option("--algorithm", args->algorithm, "rsa-sha256 | ed25519-sha256")
      ->check(CLI::IsMember({"rsa-sha256", "ed25519-sha256"}))
      ->capture_default_str();
  cmd->add_option("--bits", args->bits, "RSA key size")
      ->check(CLI::Range(signing::kMinRsaBits, signing::kMaxRsaBits))
      ->capture_default_str();
  cmd->add_option("--out", args->out, "private key file to create (mode 0600)")->required();
  cmd->callback([&run, args] { run = [args] { return keygen(*args); }; });
}

}  // namespace relayguard::cli
