// doctor_command: `relayguard doctor [--domain D]... [--egress-ip IP]... [--json]` checks the DNS
// records receivers look at (core/doctor/doctor.hpp): SPF, DKIM and DMARC for every domain, and
// forward-confirmed reverse DNS for every egress IP. The domains are the dkim stage's key
// domains plus every --domain; the egress IPs are the spf stage's egress_ips plus every
// --egress-ip. Prints a checklist (or --json) and exits 0 when every check passes (warnings
// allowed), 1 when any fails or could not be checked, 2 on a usage error.
#include <algorithm>
#include <iostream>
#include <thread>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "core/cli/commands.hpp"
#include "core/doctor/doctor.hpp"
#include "core/server/resolver_setup.hpp"
#include "core/util/strings.hpp"
#include "filters/dkim/dkim_stage.hpp"
#include "filters/pipeline.hpp"
#include "filters/spf/spf_stage.hpp"

namespace relayguard::cli {
namespace {

struct DoctorArgs {
  std::vector<std::string> domains;
  std::vector<std::string> egress_ips;
  bool json = false;
};

void addUnique(std::vector<std::string>& list, const std::string& value) {
  if (std::find(list.begin(), list.end(), value) == list.end()) {
    list.push_back(value);
  }
}

int runDoctorCommand(const Config& config, const DoctorArgs& args) {
  const auto pipeline = filters::Pipeline::load(config.rules_dir);
  doctor::Input input;
  input.hostname = config.hostname;
  std::vector<std::string> names;
  const auto* dkim = pipeline->find<filters::DkimStage>();
  if (dkim != nullptr) {
    for (const auto& key : dkim->keys()) {
      input.keys.push_back(key.get());
      addUnique(names, key->domain());
    }
  }
  for (const auto& d : args.domains) {
    const std::string name = domainKey(d);
    if (!signing::isDnsName(name)) {
      std::cerr << "--domain: '" << d << "' is not a domain name\n";
      return 2;
    }
    addUnique(names, name);
  }
  for (const auto& name : names) {
    input.domains.push_back(
        {name, dkim != nullptr ? dkim->keysFor(name) : std::vector<const signing::DkimKey*>{}});
  }
  if (const auto* spf = pipeline->find<filters::SpfStage>()) {
    for (const auto& ip : spf->egressIps()) {
      addUnique(input.egress_ips, ip);
    }
  }
  for (const auto& ip : args.egress_ips) {
    if (doctor::reverseName(ip).empty()) {
      std::cerr << "--egress-ip: '" << ip << "' is not an IP address\n";
      return 2;
    }
    addUnique(input.egress_ips, ip);
  }

  // The resolver answers on its own io_context thread; the checks block on this one.
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread thread([&io] { io.run(); });
  doctor::Report report;
  {
    dns::UnboundResolver resolver(io.get_executor(), resolverOptions(config.dns));
    report = doctor::runDoctor(resolver, input);
  }
  work.reset();
  io.stop();
  thread.join();

  if (args.json) {
    std::cout << doctor::toJson(report).dump(2) << "\n";
  } else {
    std::cout << doctor::formatText(report);
  }
  return report.ok() ? 0 : 1;
}

}  // namespace

void addDoctorCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto args = std::make_shared<DoctorArgs>();
  auto* cmd = app.add_subcommand(
      "doctor", "check the DNS records receivers look at: SPF, DKIM, DMARC, reverse DNS");
  cmd->add_option("--domain", args->domains,
                  "a sender domain to check besides the dkim keys' domains (repeatable)");
  cmd->add_option("--egress-ip", args->egress_ips,
                  "an address mail leaves from, besides the spf stage's egress_ips (repeatable)");
  cmd->add_flag("--json", args->json, "print one JSON object");
  cmd->callback([&global, &run, args] {
    run = withConfig(global, [args](const Config& c) { return runDoctorCommand(c, *args); });
  });
}

}  // namespace relayguard::cli
