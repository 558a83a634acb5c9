// rules_command: `relayguard rules test MESSAGE.eml [--from ADDR] [--to ADDR]... [--json]` runs
// the filter stages of the configured rules directory on a message file and prints every
// stage's result, every matching rule and the final verdict, for rule authors. It sends
// nothing and stores nothing. A file with bare LF line ends (as most .eml files on disk have)
// is read as if it had CRLF, the way it would arrive over SMTP.
#include <iostream>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_future.hpp>
#include <nlohmann/json.hpp>

#include "core/cli/commands.hpp"
#include "core/config/config.hpp"
#include "core/server/resolver_setup.hpp"
#include "core/util/durable_file.hpp"
#include "filters/pipeline.hpp"

namespace relayguard::cli {
namespace {

struct RulesTestArgs {
  std::string message;
  std::string from;
  std::vector<std::string> to;
  bool json = false;
};

std::string toCrlf(const std::string& in) {
  if (in.find('\r') != std::string::npos) {
    return in;
  }
  std::string out;
  out.reserve(in.size() + in.size() / 40);
  for (char c : in) {
    if (c == '\n') {
      out += '\r';
    }
    out += c;
  }
  return out;
}

int runRulesTest(const Config& config, const RulesTestArgs& args) {
  const auto pipeline = filters::Pipeline::load(config.rules_dir);
  std::string raw;
  try {
    raw = toCrlf(readFile(args.message));
  } catch (const IoError& e) {
    return fail(e.what());
  }
  Envelope env;
  if (!args.from.empty()) {
    auto a = Address::parseMailbox(args.from);
    if (!a) {
      std::cerr << "--from: '" << args.from << "' is not an address\n";
      return 2;
    }
    env.mail_from = *a;
  }
  for (const auto& t : args.to) {
    auto a = Address::parseMailbox(t);
    if (!a) {
      std::cerr << "--to: '" << t << "' is not an address\n";
      return 2;
    }
    env.rcpt_to.push_back(*a);
  }
  env.client_ip = "127.0.0.1";
  env.helo = "rules-test";
  env.received = std::chrono::system_clock::now();

  asio::io_context io;
  asio::thread_pool blocking(2);
  const MessageView view(env, raw);
  dns::UnboundResolver resolver(io.get_executor(), resolverOptions(config.dns));
  filters::StageContext ctx{blocking, &resolver, config.hostname};
  auto future = asio::co_spawn(io, pipeline->run(view, ctx), asio::use_future);
  io.run();
  const filters::Verdict verdict = future.get();
  blocking.join();

  if (args.json) {
    nlohmann::json out = {{"verdict", filters::toString(verdict.action)},
                          {"stages", nlohmann::json::array()},
                          {"add_headers", nlohmann::json::array()}};
    for (const auto& s : verdict.stages) {
      nlohmann::json findings = nlohmann::json::array();
      for (const auto& f : s.findings) {
        findings.push_back(
            {{"rule", f.rule}, {"action", filters::toString(f.action)}, {"detail", f.detail}});
      }
      out["stages"].push_back(
          {{"stage", s.stage}, {"result", filters::toString(s.action)}, {"findings", findings}});
    }
    for (const auto& h : verdict.add_headers) {
      out["add_headers"].push_back(h.name + ": " + h.value);
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  for (const auto& s : verdict.stages) {
    std::cout << "stage " << s.stage << ": " << filters::toString(s.action) << "\n";
    for (const auto& f : s.findings) {
      std::cout << "  " << (f.rule.empty() ? "(stage)" : f.rule) << "  "
                << filters::toString(f.action) << "  " << f.detail << "\n";
    }
  }
  for (const auto& h : verdict.add_headers) {
    std::cout << "header " << h.name << ": " << h.value << "\n";
  }
  std::cout << "verdict: " << filters::toString(verdict.action) << "\n";
  return 0;
}

}  // namespace

void addRulesCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto* rules = app.add_subcommand("rules", "work with the rules directory");
  rules->require_subcommand(1);
  auto args = std::make_shared<RulesTestArgs>();
  auto* test = rules->add_subcommand("test", "run the filter stages on a message file");
  test->add_option("MESSAGE", args->message, "the message (.eml)")->required();
  test->add_option("--from", args->from, "envelope sender");
  test->add_option("--to", args->to, "envelope recipient (repeatable)");
  test->add_flag("--json", args->json, "print one JSON object");
  test->callback([&global, &run, args] {
    run = withConfig(global, [args](const Config& c) { return runRulesTest(c, *args); });
  });
}

}  // namespace relayguard::cli
