// pickup_file: envelope and message from a pickup-directory file (see pickup_file.hpp).
#include "core/pickup/pickup_file.hpp"

#include <algorithm>

#include "core/message/gmime_ptr.hpp"
#include "core/util/durable_file.hpp"
#include "core/util/strings.hpp"

namespace relayguard {
namespace {

std::string toCrlf(std::string_view in) {
  std::string out;
  out.reserve(in.size() + in.size() / 32 + 2);
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < in.size() && in[i + 1] == '\n') {
        ++i;
      }
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  if (!out.empty() && !out.ends_with("\r\n")) {
    out += "\r\n";
  }
  return out;
}

// One header field as written (name, and its raw text including folded lines and the CRLF).
struct RawField {
  std::string name;
  std::string text;
};

// Splits CRLF text into its header fields and the rest (the empty line and the body).
std::pair<std::vector<RawField>, std::string_view> splitHeader(std::string_view message) {
  std::vector<RawField> fields;
  std::size_t pos = 0;
  while (pos < message.size()) {
    const std::size_t eol = message.find("\r\n", pos);
    const std::size_t next = eol == std::string_view::npos ? message.size() : eol + 2;
    const std::string_view line = message.substr(pos, next - pos);
    if (line == "\r\n") {
      break;
    }
    if ((line.front() == ' ' || line.front() == '\t') && !fields.empty()) {
      fields.back().text += line;
    } else {
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) {
        break;  // not a header line: the body starts here (no empty line)
      }
      fields.push_back(RawField{std::string(trim(line.substr(0, colon))), std::string(line)});
    }
    pos = next;
  }
  return {fields, message.substr(pos)};
}

std::string fieldValue(const RawField& f) {
  const std::string_view text = f.text;
  std::string value(text.substr(text.find(':') + 1));
  // Unfold: CRLF followed by whitespace is just the whitespace.
  std::string out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\r' && i + 1 < value.size() && value[i + 1] == '\n') {
      ++i;
      continue;
    }
    out += value[i];
  }
  return std::string(trim(out));
}

void collectMailboxes(InternetAddressList* list, std::vector<std::string>& out) {
  const int n = list != nullptr ? internet_address_list_length(list) : 0;
  for (int i = 0; i < n; ++i) {
    InternetAddress* a = internet_address_list_get_address(list, i);
    if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
      out.emplace_back(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)));
    } else if (INTERNET_ADDRESS_IS_GROUP(a)) {
      collectMailboxes(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)), out);
    }
  }
}

// The addr-spec of every mailbox in an address-list header value ("A <a@x>, b@y").
std::vector<std::string> mailboxes(const std::string& value) {
  gmime::ensureGMimeInitialized();
  std::vector<std::string> out;
  InternetAddressList* list = internet_address_list_parse(nullptr, value.c_str());
  collectMailboxes(list, out);
  if (list != nullptr) {
    g_object_unref(list);
  }
  return out;
}

Address mailbox(const std::string& text, const std::string& field) {
  const auto a = Address::parseMailbox(text);
  if (!a) {
    throw PickupError(field + ": '" + text + "' is not a valid mail address");
  }
  return *a;
}

PickupError tooLarge(std::uintmax_t size) {
  return PickupError("larger than max_message_size (" + std::to_string(size) + " bytes)");
}

}  // namespace

PickupMessage loadPickupFile(const std::filesystem::path& file, std::uint64_t max_size) {
  const std::uintmax_t size = std::filesystem::file_size(file);
  if (size > max_size) {
    throw tooLarge(size);  // never read into memory
  }
  return parsePickupFile(readFile(file), max_size);
}

PickupMessage parsePickupFile(std::string_view bytes, std::uint64_t max_size) {
  if (bytes.size() > max_size) {
    throw tooLarge(bytes.size());
  }
  const std::string text = toCrlf(bytes);
  auto [fields, rest] = splitHeader(text);
  if (fields.empty()) {
    throw PickupError("no header fields: not a mail message");
  }
  std::vector<std::string> x_sender;
  std::vector<std::string> x_receivers;
  for (const auto& f : fields) {
    if (iequals(f.name, "X-Sender")) {
      for (auto& m : mailboxes(fieldValue(f))) {
        x_sender.push_back(std::move(m));
      }
    } else if (iequals(f.name, "X-Receiver")) {
      for (auto& m : mailboxes(fieldValue(f))) {
        x_receivers.push_back(std::move(m));
      }
    }
  }
  const bool from_x_headers = !x_receivers.empty();
  PickupMessage out;
  std::vector<std::string> senders = x_sender;
  std::vector<std::string> rcpts = x_receivers;
  if (senders.empty()) {
    for (const char* name : {"Sender", "From"}) {
      for (const auto& f : fields) {
        if (senders.empty() && iequals(f.name, name)) {
          senders = mailboxes(fieldValue(f));
        }
      }
    }
  }
  if (!from_x_headers) {
    for (const auto& f : fields) {
      if (iequals(f.name, "To") || iequals(f.name, "Cc") || iequals(f.name, "Bcc")) {
        for (auto& m : mailboxes(fieldValue(f))) {
          rcpts.push_back(std::move(m));
        }
      }
    }
  }
  if (senders.empty()) {
    throw PickupError("no sender: neither an X-Sender nor a From field with an address");
  }
  if (rcpts.empty()) {
    throw PickupError("no recipients: neither X-Receiver nor To/Cc/Bcc fields with addresses");
  }
  out.mail_from =
      mailbox(senders.front(), from_x_headers || !x_sender.empty() ? "X-Sender" : "From");
  for (const auto& r : rcpts) {
    Address a = mailbox(r, from_x_headers ? "X-Receiver" : "To/Cc/Bcc");
    if (std::none_of(out.rcpt_to.begin(), out.rcpt_to.end(),
                     [&a](const Address& b) { return iequals(a.str(), b.str()); })) {
      out.rcpt_to.push_back(std::move(a));
    }
  }
  for (const auto& f : fields) {
    const bool envelope_field = iequals(f.name, "X-Sender") || iequals(f.name, "X-Receiver");
    if (envelope_field || (!from_x_headers && iequals(f.name, "Bcc"))) {
      continue;
    }
    out.data += f.text;
  }
  if (!rest.starts_with("\r\n")) {
    out.data += "\r\n";  // no empty line after the header: the body starts at `rest`
  }
  out.data += rest;
  out.body_8bit = std::any_of(out.data.begin(), out.data.end(),
                              [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
  return out;
}

}  // namespace relayguard
