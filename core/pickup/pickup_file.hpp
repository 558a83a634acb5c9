// pickup_file: reading one file from an IIS-style pickup directory into an envelope and a
// message, as the IIS SMTP Service and .NET's SmtpDeliveryMethod.SpecifiedPickupDirectory
// write them:
//
//   - The envelope comes from leading `X-Sender:` / `X-Receiver:` header fields when present
//     (one X-Sender, one X-Receiver per recipient); they are removed from the message.
//   - Otherwise the sender is the first address of Sender: or From:, and the recipients are
//     every address in To:, Cc: and Bcc:; Bcc: is then removed from the message.
//   - Line ends are normalised to CRLF (a bare LF or CR becomes CRLF), and the message ends in
//     CRLF.
//
// The input is written by local applications, not the network, but it is still checked: a file
// over max_message_size, without a usable sender or recipient, or with an address that does not
// parse is refused with a PickupError whose text goes into the badmail reason file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/message/address.hpp"

namespace relayguard {

class PickupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PickupMessage {
  Address mail_from = Address::null();
  std::vector<Address> rcpt_to;
  std::string data;  // the message to queue (CRLF line ends)
  bool body_8bit = false;
};

PickupMessage parsePickupFile(std::string_view bytes, std::uint64_t max_size);
// Reads and parses a pickup file; a file over max_size is refused before it is read.
PickupMessage loadPickupFile(const std::filesystem::path& file, std::uint64_t max_size);

}  // namespace relayguard
