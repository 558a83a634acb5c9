// command: SMTP command-line parsing (see command.hpp).
#include "core/smtp/command.hpp"

#include "core/util/strings.hpp"

namespace relayguard::smtp {
namespace {

struct VerbName {
  std::string_view name;
  Verb verb;
};

constexpr VerbName kVerbs[] = {
    {"EHLO", Verb::kEhlo}, {"HELO", Verb::kHelo}, {"MAIL", Verb::kMail},
    {"RCPT", Verb::kRcpt}, {"DATA", Verb::kData}, {"RSET", Verb::kRset},
    {"NOOP", Verb::kNoop}, {"QUIT", Verb::kQuit}, {"VRFY", Verb::kVrfy},
    {"EXPN", Verb::kExpn}, {"HELP", Verb::kHelp}, {"STARTTLS", Verb::kStartTls},
    {"AUTH", Verb::kAuth}, {"BDAT", Verb::kBdat},
};

// Finds the '>' closing a path that starts at s[0] == '<', skipping quoted strings.
size_t findPathEnd(std::string_view s) {
  bool quoted = false;
  for (size_t i = 1; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == '>') {
      return i;
    } else if (c == '<') {
      return std::string_view::npos;
    }
  }
  return std::string_view::npos;
}

}  // namespace

Command parseCommand(std::string_view line) {
  Command cmd;
  const auto space = line.find(' ');
  cmd.verb_text = line.substr(0, space);
  cmd.argument = space == std::string_view::npos ? std::string_view{} : trim(line.substr(space));
  for (const auto& v : kVerbs) {
    if (iequals(cmd.verb_text, v.name)) {
      cmd.verb = v.verb;
      break;
    }
  }
  return cmd;
}

PathArgumentResult parsePathArgument(std::string_view argument, std::string_view keyword) {
  PathArgumentResult result;
  if (!istartsWith(argument, keyword)) {
    result.error = "syntax: expected " + std::string(keyword) + "<address>";
    return result;
  }
  std::string_view rest = trim(argument.substr(keyword.size()));
  if (rest.empty() || rest.front() != '<') {
    result.error = "syntax: address must be enclosed in <>";
    return result;
  }
  const size_t end = findPathEnd(rest);
  if (end == std::string_view::npos) {
    result.error = "syntax: unterminated address";
    return result;
  }
  PathArgument arg;
  arg.path = rest.substr(0, end + 1);
  const std::string_view params = rest.substr(end + 1);
  if (!params.empty() && params.front() != ' ') {
    result.error = "syntax: garbage after address";
    return result;
  }
  for (const auto token : splitWhitespace(params)) {
    MailParameter p;
    const auto eq = token.find('=');
    const auto key = token.substr(0, eq);
    if (key.empty()) {
      result.error = "syntax: empty parameter name";
      return result;
    }
    for (char c : key) {
      const bool ok =
          (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) {
        result.error = "syntax: bad parameter name";
        return result;
      }
      p.keyword.push_back(static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c));
    }
    if (eq != std::string_view::npos) {
      p.value = std::string(token.substr(eq + 1));
    }
    arg.params.push_back(std::move(p));
  }
  result.value = std::move(arg);
  return result;
}

}  // namespace relayguard::smtp
