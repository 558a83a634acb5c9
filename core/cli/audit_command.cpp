// audit_command: `relayguard audit verify [--key-file F] [--max-anchor-age D]` checks the audit
// log's hash chain (and, with the anchor key from --key-file or [audit] key_file, its keyed
// anchors). Exit 0 when intact; 1 naming the first bad file and line.
#include <iostream>

#include "core/audit/audit_log.hpp"
#include "core/cli/commands.hpp"
#include "core/config/config.hpp"
#include "core/util/time_format.hpp"
#include "core/util/units.hpp"

namespace relayguard::cli {
namespace {

struct AuditArgs {
  std::string key_file;
  std::string max_anchor_age;
};

int verify(const Config& base, const AuditArgs& args) {
  Config config = base;
  if (!args.key_file.empty()) {
    config.audit.key_file = args.key_file;
  }
  const auto key = config.audit.loadKey(config.spool_dir);
  const auto r = verifyAuditLog(config.spool_dir / "audit", key);
  if (!r.ok) {
    return fail(r.problem);
  }
  if (!args.max_anchor_age.empty()) {
    const auto age = parseDuration(args.max_anchor_age);
    if (!age) {
      std::cerr << "--max-anchor-age: '" << args.max_anchor_age << "' is not a duration\n";
      return 2;
    }
    if (!key) {
      return fail("--max-anchor-age needs the anchor key ([audit] key_file or --key-file)");
    }
    const auto newest = r.last_anchor_time;
    const auto limit = rfc3339(std::chrono::system_clock::now() - *age);
    if (newest.empty() || newest < limit) {  // RFC 3339 UTC strings sort by time
      return fail((config.spool_dir / "audit").string() + ": the newest anchor (" +
                  (newest.empty() ? "none" : newest) +
                  ") is older than allowed: lines may have been cut from the end");
    }
  }
  std::cout << "ok: " << r.lines << " line(s) intact";
  if (key) {
    std::cout << ", " << r.anchors << " anchor(s) verified, last at " << r.last_anchor_time << ", "
              << r.unanchored_tail << " line(s) after it";
  }
  std::cout << "\n";
  return 0;
}

}  // namespace

void addAuditCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto* audit = app.add_subcommand("audit", "the tamper-evident verdict log");
  audit->require_subcommand(1);
  auto args = std::make_shared<AuditArgs>();
  auto* cmd = audit->add_subcommand("verify", "check the hash chain and keyed anchors");
  cmd->add_option("--key-file", args->key_file, "anchor key (default: [audit] key_file)");
  cmd->add_option("--max-anchor-age", args->max_anchor_age,
                  "fail if the newest anchor is older than this (e.g. 5m)");
  cmd->callback([&global, &run, args] {
    run = withConfig(global, [args](const Config& c) { return verify(c, *args); });
  });
}

}  // namespace relayguard::cli
