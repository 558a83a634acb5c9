// audit_command: the audit log for auditors.
//   audit verify [--key-file F] [--max-anchor-age D]: checks the hash chain (and, with the anchor
//     key from --key-file or [audit] key_file, its keyed anchors). Exit 0 when intact; 1 naming
//     the first bad file and line.
//   audit search [--since T] [--until T] [--sender A] [--recipient A] [--verdict V] [--rule R]
//     [--queue-id ID] [--message-id ID] [--table]: the matching lines as JSON lines (or a table).
//     Times are RFC 3339 UTC or a duration back from now ("30d").
#include <iostream>

#include "core/audit/audit_log.hpp"
#include "core/audit/audit_search.hpp"
#include "core/cli/commands.hpp"
#include "core/config/config.hpp"
#include "core/util/time_format.hpp"
#include "core/util/units.hpp"

namespace relayguard::cli {
namespace {

struct AuditArgs {
  std::string key_file;
  std::string max_anchor_age;
  AuditQuery query;
  bool table = false;
};

int search(const Config& config, AuditArgs args) {
  for (auto* bound : {&args.query.since, &args.query.until}) {
    const auto t = timeBound(*bound);
    if (!t) {
      std::cerr << "'" << *bound << "' is neither an RFC 3339 time nor a duration such as 30d\n";
      return 2;
    }
    *bound = *t;
  }
  std::size_t n = 0;
  searchAuditLog(
      config.spool_dir / "audit", args.query, [&](const std::string& raw, const nlohmann::json& j) {
        ++n;
        if (!args.table) {
          std::cout << raw << "\n";
          return;
        }
        const auto field = [&j](const char* k) {
          return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : "-";
        };
        std::string to = field("rcpt");
        if (j.contains("rcpt_to") && j["rcpt_to"].is_array()) {
          to.clear();
          for (const auto& r : j["rcpt_to"]) {
            to += (to.empty() ? "" : ",") + r.get<std::string>();
          }
        }
        const std::string outcome = j.contains("verdict") ? field("verdict") : field("result");
        std::cout << field("time") << "  " << field("event") << "  " << field("queue_id") << "  "
                  << outcome << "  <" << field("mail_from") << ">  " << to << "\n";
      });
  if (args.table) {
    std::cout << "-- " << n << " line(s)\n";
  }
  return 0;
}

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

  auto* find = audit->add_subcommand("search", "show the log lines matching every filter given");
  auto& q = args->query;
  find->add_option("--since", q.since, "RFC 3339 time or duration back from now (30d)");
  find->add_option("--until", q.until, "RFC 3339 time or duration back from now");
  find->add_option("--sender", q.sender, "envelope sender");
  find->add_option("--recipient", q.recipient, "envelope recipient");
  find->add_option("--verdict", q.verdict,
                   "accept|tag|quarantine|tempfail|reject, or a "
                   "delivery result (delivered|deferred|failed)");
  find->add_option("--rule", q.rule, "rule id or virus name");
  find->add_option("--queue-id", q.queue_id, "queue id");
  find->add_option("--message-id", q.message_id, "Message-ID header value");
  find->add_flag("--table", args->table, "one line per event instead of JSON");
  find->callback([&global, &run, args] {
    run = withConfig(global, [args](const Config& c) { return search(c, *args); });
  });
}

}  // namespace relayguard::cli
