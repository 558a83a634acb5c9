// quarantine_command: `relayguard quarantine list|show|release|delete|purge`.
//
// list and show read the quarantine folder directly (safe while the relay runs). release, delete
// and purge are changes: they go to the running relay over its control socket, which knows the
// caller's user from the kernel and is the only audit writer; when no relay runs, the command
// takes the spool lock and does the same work in-process (the same dispatcher, the same
// QuarantineReview), as the user who runs it.
#include <iostream>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_future.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "core/audit/audit_search.hpp"
#include "core/cli/commands.hpp"
#include "core/message/header_scan.hpp"
#include "core/message/mime_view.hpp"
#include "core/quarantine/quarantine_review.hpp"
#include "core/server/control_commands.hpp"
#include "core/util/time_format.hpp"
#include "core/util/units.hpp"

namespace relayguard::cli {
namespace {

struct QuarantineArgs {
  bool json = false;
  std::string id;
  AuditQuery filter;  // since, sender, recipient, rule (a rule id or a virus name)
  std::vector<std::string> to;
  std::string reason;
  std::string older_than;
};

std::string joined(const nlohmann::json& array) {
  std::string out;
  if (array.is_array()) {
    for (const auto& v : array) {
      out += (out.empty() ? "" : ",") + (v.is_string() ? v.get<std::string>() : v.dump());
    }
  }
  return out;
}

// The contract's list object: id, time, mail_from, rcpt_to, subject, verdict, reasons.
nlohmann::json listEntry(const nlohmann::json& record) {
  nlohmann::json out = nlohmann::json::object();
  for (const char* key : {"id", "time", "mail_from", "rcpt_to", "subject", "verdict", "reasons",
                          "client_ip", "auth_user", "message_id", "size"}) {
    out[key] = record.contains(key) ? record[key] : nlohmann::json(nullptr);
  }
  return out;
}

int listQuarantine(const Config& config, QuarantineArgs args) {
  const auto since = timeBound(args.filter.since);
  if (!since) {
    std::cerr << "'" << args.filter.since
              << "' is neither an RFC 3339 time nor a duration such as 30d\n";
    return 2;
  }
  args.filter.since = *since;
  QuarantineStore store(config.spool_dir);
  std::vector<std::string> problems;
  const auto records = store.list(&problems);
  for (const auto& p : problems) {
    std::cerr << p << "\n";
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : records) {
    if (args.filter.matches(r)) {
      out.push_back(listEntry(r));
    }
  }
  if (args.json) {
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  for (const auto& e : out) {
    std::cout << e.value("id", "") << "  " << e.value("time", "") << "  <"
              << e.value("mail_from", "") << ">  to=" << joined(e["rcpt_to"])
              << "  reasons=" << joined(e["reasons"]) << "\n    "
              << (e["subject"].is_string() ? e["subject"].get<std::string>() : "") << "\n";
  }
  std::cout << "-- " << out.size() << " message(s)\n";
  return 0;
}

// Everything an operator needs to decide: envelope, verdict, headers, attachments, URLs.
nlohmann::json describe(const nlohmann::json& record, const std::string& message) {
  nlohmann::json out = listEntry(record);
  out["helo"] = record.value("helo", "");
  out["stages"] = record.value("stages", nlohmann::json::array());
  nlohmann::json headers = nlohmann::json::array();
  forEachHeaderField(message, [&headers](std::string_view name, std::string_view value) {
    headers.push_back({{"name", name}, {"value", value}});
    return true;
  });
  out["headers"] = headers;
  const MimeView mime = MimeView::parse(message);
  nlohmann::json attachments = nlohmann::json::array();
  for (const auto& part : mime.parts()) {
    if (!part.is_attachment) {
      continue;
    }
    attachments.push_back({{"filenames", part.filenames},
                           {"content_type", part.content_type},
                           {"detected_type", part.detected_type},
                           {"size", part.body.size()},
                           {"archive_entries", part.archive_entries}});
  }
  out["attachments"] = attachments;
  out["urls"] = mime.urls();
  out["mime_problems"] = mime.problems();
  return out;
}

int showQuarantined(const Config& config, const QuarantineArgs& args) {
  QuarantineStore store(config.spool_dir);
  const auto record = store.read(args.id);
  const auto message = store.readMessage(args.id);
  if (!record || !message) {
    return fail("quarantine id " + args.id + " not found");
  }
  const nlohmann::json d = describe(*record, *message);
  if (args.json) {
    std::cout << d.dump(2) << "\n";
    return 0;
  }
  const auto text = [](const nlohmann::json& v) {
    return v.is_string() ? v.get<std::string>() : v.is_null() ? std::string("-") : v.dump();
  };
  std::cout << "id:         " << text(d["id"]) << "\n"
            << "time:       " << text(d["time"]) << "\n"
            << "client:     " << text(d["client_ip"]) << " (helo " << text(d["helo"]) << ", user "
            << text(d["auth_user"]) << ")\n"
            << "mail from:  <" << text(d["mail_from"]) << ">\n"
            << "rcpt to:    " << joined(d["rcpt_to"]) << "\n"
            << "subject:    " << text(d["subject"]) << "\n"
            << "verdict:    " << text(d["verdict"]) << " (" << joined(d["reasons"]) << ")\n";
  for (const auto& s : d["stages"]) {
    std::cout << "  stage " << text(s.value("stage", nlohmann::json())) << ": "
              << text(s.value("result", nlohmann::json()));
    if (s.contains("rule")) {
      std::cout << " rule=" << text(s["rule"]);
    }
    if (s.contains("detail")) {
      std::cout << " detail=" << text(s["detail"]);
    }
    std::cout << "\n";
  }
  std::cout << "headers:\n";
  for (const auto& h : d["headers"]) {
    std::cout << "  " << text(h["name"]) << ": " << text(h["value"]) << "\n";
  }
  std::cout << "attachments:\n";
  for (const auto& a : d["attachments"]) {
    std::cout << "  " << joined(a["filenames"]) << "  " << text(a["content_type"]) << " (detected "
              << text(a["detected_type"]) << ")  " << text(a["size"]) << " bytes\n";
    for (const auto& entry : a["archive_entries"]) {
      std::cout << "    contains " << text(entry) << "\n";
    }
  }
  std::cout << "urls:\n";
  for (const auto& u : d["urls"]) {
    std::cout << "  " << text(u) << "\n";
  }
  if (!d["mime_problems"].empty()) {
    std::cout << "mime problems: " << joined(d["mime_problems"]) << "\n";
  }
  return 0;
}

// Runs one change request: through the running relay, or in-process under the spool lock.
std::optional<nlohmann::json> change(const Config& config, const nlohmann::json& request) {
  if (auto answer = ControlSocket::request(config.spool_dir / "control.sock", request)) {
    return answer;
  }
  const auto lock = lockIdleSpool(config);
  if (!lock) {
    return std::nullopt;
  }
  queue::Spool spool(config.spool_dir);
  QuarantineStore store(config.spool_dir);
  AuditLog audit(AuditOptions::fromConfig(config));
  const auto pipeline = filters::Pipeline::load(config.rules_dir);
  asio::thread_pool blocking(2);
  // Queued messages wait for the next `relayguard serve`, which recovers the queue at start.
  QuarantineReview review(
      store, spool, audit, [&pipeline] { return pipeline; }, blocking,
      [](const queue::QueuedMessage&) {});
  ControlCommands commands(nullptr, review);
  const ControlPeer me{::getuid(), userName(::getuid())};
  asio::io_context io;
  auto result = asio::co_spawn(io, commands.handle(request, me), asio::use_future);
  io.run();
  blocking.join();
  return result.get();
}

int report(const std::optional<nlohmann::json>& answer, const std::string& done,
           const std::string& what) {
  if (!answer) {
    return 1;
  }
  if (!answer->value("ok", false)) {
    return fail("cannot " + what + ": " + answer->value("error", std::string("failed")));
  }
  std::cout << done << "\n";
  return 0;
}

int release(const Config& config, const QuarantineArgs& args) {
  const auto answer = change(config, {{"command", "quarantine.release"},
                                      {"id", args.id},
                                      {"to", args.to},
                                      {"reason", args.reason}});
  return report(answer, "released " + args.id + " to the delivery queue", "release " + args.id);
}

int remove(const Config& config, const QuarantineArgs& args) {
  const auto answer =
      change(config, {{"command", "quarantine.delete"}, {"id", args.id}, {"reason", args.reason}});
  return report(answer, "deleted " + args.id, "delete " + args.id);
}

int purge(const Config& config, const QuarantineArgs& args) {
  const auto age = parseDuration(args.older_than);
  if (!age) {
    std::cerr << "--older-than: '" << args.older_than << "' is not a duration such as 30d\n";
    return 2;
  }
  const auto before = std::chrono::system_clock::now() - *age;
  const auto answer = change(
      config,
      {{"command", "quarantine.purge"},
       {"before_ms",
        std::chrono::duration_cast<std::chrono::milliseconds>(before.time_since_epoch()).count()},
       {"reason", args.reason}});
  const std::string done =
      answer ? "purged " + std::to_string(answer->value("deleted", 0)) +
                   " message(s) quarantined before " + rfc3339(before) +
                   (answer->value("skipped", 0) > 0
                        ? " (" + std::to_string(answer->value("skipped", 0)) + " busy, skipped)"
                        : "")
             : "";
  return report(answer, done, "purge");
}

}  // namespace

void addQuarantineCommand(CLI::App& app, const GlobalOptions& global, Runner& run) {
  auto* cmd = app.add_subcommand("quarantine", "review quarantined messages");
  cmd->require_subcommand(1);
  auto args = std::make_shared<QuarantineArgs>();
  const auto bind = [&global, &run, args](int (*fn)(const Config&, const QuarantineArgs&)) {
    return [&global, &run, args, fn] {
      run = withConfig(global, [args, fn](const Config& c) { return fn(c, *args); });
    };
  };

  auto* list = cmd->add_subcommand("list", "list quarantined messages, oldest first");
  list->add_flag("--json", args->json, "print one JSON array");
  list->add_option("--since", args->filter.since, "RFC 3339 time or duration back from now (7d)");
  list->add_option("--sender", args->filter.sender, "envelope sender");
  list->add_option("--recipient", args->filter.recipient, "envelope recipient");
  list->add_option("--rule", args->filter.rule, "rule id or virus name");
  list->callback([&global, &run, args] {
    run = withConfig(global, [args](const Config& c) { return listQuarantine(c, *args); });
  });

  auto* show = cmd->add_subcommand("show", "show one message: envelope, verdict, contents");
  show->add_option("ID", args->id, "quarantine id")->required();
  show->add_flag("--json", args->json, "print one JSON object");
  show->callback(bind(showQuarantined));

  auto* rel = cmd->add_subcommand("release", "deliver a quarantined message (DKIM-signed)");
  rel->add_option("ID", args->id, "quarantine id")->required();
  rel->add_option("--to", args->to, "deliver to these addresses instead of the recipients");
  rel->add_option("--reason", args->reason, "why (goes to the audit log)");
  rel->callback(bind(release));

  auto* del = cmd->add_subcommand("delete", "delete a quarantined message");
  del->add_option("ID", args->id, "quarantine id")->required();
  del->add_option("--reason", args->reason, "why (goes to the audit log)");
  del->callback(bind(remove));

  auto* pur = cmd->add_subcommand("purge", "delete messages quarantined longer than a duration");
  pur->add_option("--older-than", args->older_than, "duration, e.g. 30d")->required();
  pur->add_option("--reason", args->reason, "why (goes to the audit log)");
  pur->callback(bind(purge));
}

}  // namespace relayguard::cli
