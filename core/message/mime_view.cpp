// mime_view: builds the shared MimeView of a message with GMime (see mime_view.hpp).
//
// GMime parses the whole message once, from a memory stream; the tree is then walked with our
// own depth count, so MimeLimits apply however GMime nested things. Leaf bodies are decoded
// straight from views into GMime's buffer (no intermediate streams), sniffed with libmagic,
// listed as archives when they are ones, converted to UTF-8 when they are text, and searched
// for URLs. GMime's parser warnings feed problems() as well. Every parse owns its GMime
// objects and parser options, and libmagic handles are per thread, so parse() may run on many
// threads at once.
#include "core/message/mime_view.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <unordered_set>
#include <utility>

#include <gmime/gmime.h>

#include "core/message/archive_lister.hpp"
#include "core/message/file_type.hpp"
#include "core/message/gmime_ptr.hpp"
#include "core/message/transfer_decoder.hpp"
#include "core/message/url_extractor.hpp"
#include "core/util/durable_file.hpp"
#include "core/util/strings.hpp"

namespace relayguard {
namespace {

std::string_view cstrView(const char* s) {
  return s == nullptr ? std::string_view() : s;
}

TransferEncoding transferEncoding(GMimeContentEncoding encoding) {
  switch (encoding) {
    case GMIME_CONTENT_ENCODING_BASE64:
      return TransferEncoding::base64;
    case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
      return TransferEncoding::quoted_printable;
    case GMIME_CONTENT_ENCODING_UUENCODE:
      return TransferEncoding::uuencode;
    default:
      return TransferEncoding::identity;
  }
}

bool isMessageType(std::string_view content_type) {
  return content_type == "message/rfc822" || content_type == "message/global" ||
         content_type == "message/news" || content_type == "message/rfc2822";
}

// RFC 2183: an unknown disposition type is treated as "attachment".
std::string normalizedDisposition(const char* disposition) {
  const std::string value = toLower(trim(cstrView(disposition)));
  if (value.empty() || value == "inline") {
    return value;
  }
  return "attachment";
}

// The bytes of a GMime stream. The parser's streams over our input are substreams of a memory
// stream, or of a file stream over the file `file_bytes` maps, so this is a view into GMime's
// buffer or into the mapping; any other stream is read into `scratch`.
std::string_view streamBytes(GMimeStream* stream, std::string_view file_bytes,
                             std::string& scratch) {
  if (!file_bytes.empty() && GMIME_IS_STREAM_FS(stream) && stream->bound_start >= 0 &&
      stream->bound_start <= static_cast<gint64>(file_bytes.size())) {
    const auto start = static_cast<std::size_t>(stream->bound_start);
    const std::size_t end =
        stream->bound_end < 0
            ? file_bytes.size()
            : std::min(static_cast<std::size_t>(stream->bound_end), file_bytes.size());
    return file_bytes.substr(start, std::max(end, start) - start);
  }
  if (auto* mem = gmime::as<GMimeStreamMem>(stream, g_mime_stream_mem_get_type())) {
    const GByteArray* array = g_mime_stream_mem_get_byte_array(mem);
    g_mime_stream_reset(stream);
    const gint64 start = g_mime_stream_tell(stream);
    const gint64 length = g_mime_stream_length(stream);
    if (array != nullptr && start >= 0 && length >= 0 && start <= gint64{array->len}) {
      const auto len = static_cast<std::size_t>(std::min<gint64>(length, array->len - start));
      return {reinterpret_cast<const char*>(array->data) + start, len};
    }
  }
  scratch.clear();
  g_mime_stream_reset(stream);
  char buf[16384];
  ssize_t n = 0;
  while ((n = g_mime_stream_read(stream, buf, sizeof buf)) > 0) {
    scratch.append(buf, static_cast<std::size_t>(n));
  }
  return scratch;
}

std::size_t headerListBytes(GMimeHeaderList* list) {
  std::size_t bytes = 0;
  const int count = list == nullptr ? 0 : g_mime_header_list_get_count(list);
  for (int i = 0; i < count; ++i) {
    GMimeHeader* header = g_mime_header_list_get_header_at(list, i);
    bytes += cstrView(g_mime_header_get_raw_name(header)).size() +
             cstrView(g_mime_header_get_raw_value(header)).size() + 1;
  }
  return bytes;
}

// Candidate names kept per part; more than one already means a conflict, and a cap keeps a
// part with thousands of Content-Disposition fields linear.
constexpr std::size_t kMaxFilenames = 16;

void addName(std::vector<std::string>& names, std::string_view candidate) {
  const std::string_view name = trim(candidate);
  if (!name.empty() && names.size() < kMaxFilenames &&
      std::find(names.begin(), names.end(), name) == names.end()) {
    names.emplace_back(name);
  }
}

void addParams(GMimeParamList* params, std::string_view key, std::vector<std::string>& names) {
  const int count = params == nullptr ? 0 : g_mime_param_list_length(params);
  for (int i = 0; i < count; ++i) {
    GMimeParam* param = g_mime_param_list_get_parameter_at(params, i);
    if (iequals(cstrView(g_mime_param_get_name(param)), key)) {
      addName(names, cstrView(g_mime_param_get_value(param)));
    }
  }
}

// Cuts `text` to at most `size` bytes without splitting a UTF-8 sequence.
void truncateUtf8(std::string& text, std::size_t size) {
  if (text.size() <= size) {
    return;
  }
  while (size > 0 && (static_cast<unsigned char>(text[size]) & 0xC0) == 0x80) {
    --size;
  }
  text.resize(size);
}

}  // namespace

class MimeViewBuilder {
 public:
  MimeViewBuilder(const MimeLimits& limits, MimeView& view)
      : limits_(limits),
        view_(view),
        archive_budget_(limits.max_archive_scan_bytes),
        options_(g_mime_parser_options_new()) {
    g_mime_parser_options_set_warning_callback(options_.get(), &MimeViewBuilder::warningThunk,
                                               this);
  }

  // A message spilled to a file is parsed from the file with read() (GMime's buffer, a few KiB),
  // and each part is decoded from the mapping a window at a time, its pages given back: the
  // parse keeps a bounded part of the message resident, not all of it.
  void build(const PagedBytes& raw) {
    if (raw.file != nullptr && raw.fd >= 0) {
      source_ = raw;
      gmime::Ptr<GMimeStream> stream(
          g_mime_stream_fs_new_with_bounds(raw.fd, 0, static_cast<gint64>(raw.data.size())));
      g_mime_stream_fs_set_owner(gmime::as<GMimeStreamFs>(stream.get(), GMIME_TYPE_STREAM_FS),
                                 FALSE);
      parseStream(stream.get(), raw.data, 0, true);
      return;
    }
    parseMessage(raw.data, 0, true);
  }

  void addProblem(std::string_view code) {
    auto& problems = view_.problems_;
    if (std::find(problems.begin(), problems.end(), code) == problems.end()) {
      problems.emplace_back(code);
    }
  }

 private:
  static void warningThunk(gint64 /*offset*/, GMimeParserWarning warning, const gchar* item,
                           gpointer self) noexcept {
    try {
      static_cast<MimeViewBuilder*>(self)->onWarning(warning, cstrView(item));
    } catch (...) {  // never unwind through GMime's C frames
    }
  }

  void onWarning(GMimeParserWarning warning, std::string_view item) {
    switch (warning) {
      case GMIME_CRIT_NESTING_OVERFLOW:
        addProblem(mime_problem::kDepthExceeded);
        break;
      case GMIME_CRIT_CONFLICTING_PARAMETER:
        if (iequals(item, "filename") || iequals(item, "name")) {
          addProblem(mime_problem::kConflictingFilenames);
        }
        addProblem(mime_problem::kAmbiguousStructure);
        break;
      case GMIME_CRIT_INVALID_HEADER_NAME:
      case GMIME_CRIT_CONFLICTING_HEADER:
      case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
      case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
        addProblem(mime_problem::kAmbiguousStructure);
        break;
      default:
        break;
    }
  }

  std::uint64_t decodedLeft() const {
    return decoded_total_ >= limits_.max_decoded_bytes ? 0
                                                       : limits_.max_decoded_bytes - decoded_total_;
  }

  void parseMessage(std::string_view bytes, std::size_t depth, bool top) {
    gmime::Ptr<GMimeStream> stream = gmime::borrowedMemoryStream(bytes);
    parseStream(stream.get(), bytes, depth, top);
  }

  void parseStream(GMimeStream* stream, std::string_view bytes, std::size_t depth, bool top) {
    gmime::Ptr<GMimeParser> parser(g_mime_parser_new_with_stream(stream));
    gmime::Ptr<GMimeMessage> message(g_mime_parser_construct_message(parser.get(), options_.get()));
    if (!message) {
      if (!trim(bytes).empty()) {
        addProblem(mime_problem::kUnparseable);
      }
      return;
    }
    if (top) {
      collectHeaders(message.get());
    }
    walkMessage(message.get(), depth);
  }

  void walkMessage(GMimeMessage* message, std::size_t depth) {
    GMimeObject* root = g_mime_message_get_mime_part(message);
    std::size_t header_bytes =
        headerListBytes(g_mime_object_get_header_list(gmime::base<GMimeObject>(message)));
    if (root != nullptr) {
      header_bytes += headerListBytes(g_mime_object_get_header_list(root));
    }
    if (header_bytes > limits_.max_header_bytes) {
      addProblem(mime_problem::kHeaderTooLarge);
    }
    if (root != nullptr) {
      walk(root, depth, true);
    }
  }

  // The top-level header fields in order: the message's own list holds all but Content-*,
  // which sit on the root part. Values are RFC 2047-decoded and unfolded by GMime; the total
  // kept is capped at max_header_bytes (the field that crosses the cap is cut).
  void collectHeaders(GMimeMessage* message) {
    std::vector<std::pair<gint64, GMimeHeader*>> fields;
    auto gather = [&fields](GMimeObject* object) {
      GMimeHeaderList* list = g_mime_object_get_header_list(object);
      const int count = list == nullptr ? 0 : g_mime_header_list_get_count(list);
      for (int i = 0; i < count; ++i) {
        GMimeHeader* header = g_mime_header_list_get_header_at(list, i);
        fields.emplace_back(g_mime_header_get_offset(header), header);
      }
    };
    gather(gmime::base<GMimeObject>(message));
    if (GMimeObject* root = g_mime_message_get_mime_part(message)) {
      gather(root);
    }
    std::stable_sort(fields.begin(), fields.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::size_t left = limits_.max_header_bytes;
    for (const auto& [offset, header] : fields) {
      const std::string_view name = cstrView(g_mime_header_get_name(header));
      const std::string_view raw = cstrView(g_mime_header_get_raw_value(header));
      if (name.size() + raw.size() <= left) {
        left -= name.size() + raw.size();
        view_.headers_.emplace_back(name, trim(cstrView(g_mime_header_get_value(header))));
        continue;
      }
      addProblem(mime_problem::kHeaderTooLarge);
      if (left > name.size()) {
        const std::string cut(raw.substr(0, left - name.size()));
        gmime::String unfolded(g_mime_utils_header_unfold(cut.c_str()));
        gmime::String decoded(g_mime_utils_header_decode_text(options_.get(), unfolded.get()));
        view_.headers_.emplace_back(name, trim(cstrView(decoded.get())));
      }
      break;
    }
  }

  void walk(GMimeObject* object, std::size_t depth, bool is_root) {
    if (stopped_) {
      return;
    }
    if (depth > limits_.max_depth) {
      addProblem(mime_problem::kDepthExceeded);
      return;
    }
    if (!is_root &&
        headerListBytes(g_mime_object_get_header_list(object)) > limits_.max_header_bytes) {
      addProblem(mime_problem::kHeaderTooLarge);
    }
    if (auto* multipart = gmime::as<GMimeMultipart>(object, g_mime_multipart_get_type())) {
      // The parser clears write_end_boundary when a multipart ended without its close
      // delimiter (end of input, or a parent's boundary first). GMime's TRUNCATED_MESSAGE
      // warning cannot be used instead: it also fires for a message that is only headers.
      if (g_mime_object_get_content_type_parameter(object, "boundary") != nullptr &&
          multipart->write_end_boundary == FALSE) {
        addProblem(mime_problem::kTruncatedMultipart);
      }
      const int count = g_mime_multipart_get_count(multipart);
      for (int i = 0; i < count && !stopped_; ++i) {
        walk(g_mime_multipart_get_part(multipart, i), depth + 1, false);
      }
      if (count == 0) {
        addPrologueText(multipart, depth + 1);
      }
      return;
    }
    if (auto* message_part = gmime::as<GMimeMessagePart>(object, g_mime_message_part_get_type())) {
      if (GMimeMessage* inner = g_mime_message_part_get_message(message_part)) {
        walkMessage(inner, depth + 1);
      }
      return;
    }
    if (auto* part = gmime::as<GMimePart>(object, g_mime_part_get_type())) {
      addLeaf(object, part, depth);
    }
  }

  // Every Content-Disposition filename and Content-Type name, from every such header field
  // (a second Content-Disposition is a classic way to show scanners a different name).
  void collectFilenames(GMimeObject* object, std::vector<std::string>& names) {
    GMimeHeaderList* list = g_mime_object_get_header_list(object);
    const int count = list == nullptr ? 0 : g_mime_header_list_get_count(list);
    for (int i = 0; i < count && names.size() < kMaxFilenames; ++i) {
      GMimeHeader* header = g_mime_header_list_get_header_at(list, i);
      const std::string_view name = cstrView(g_mime_header_get_name(header));
      const char* raw = g_mime_header_get_raw_value(header);
      if (raw == nullptr) {
        continue;
      }
      if (iequals(name, "Content-Disposition")) {
        gmime::Ptr<GMimeContentDisposition> disposition(
            g_mime_content_disposition_parse(options_.get(), raw));
        if (disposition) {
          addParams(g_mime_content_disposition_get_parameters(disposition.get()), "filename",
                    names);
        }
      } else if (iequals(name, "Content-Type")) {
        gmime::Ptr<GMimeContentType> type(g_mime_content_type_parse(options_.get(), raw));
        if (type) {
          addParams(g_mime_content_type_get_parameters(type.get()), "name", names);
        }
      }
    }
  }

  void decodeBody(GMimePart* part, MimePart& out) {
    GMimeDataWrapper* content = g_mime_part_get_content(part);
    GMimeStream* stream = content == nullptr ? nullptr : g_mime_data_wrapper_get_stream(content);
    if (stream == nullptr) {
      return;
    }
    std::string scratch;
    const std::string_view encoded = streamBytes(stream, source_.data, scratch);
    const TransferEncoding encoding = transferEncoding(g_mime_data_wrapper_get_encoding(content));
    std::optional<DecodeResult> result;
    if (mayKeepInAFile(out, encoded)) {
      result = decodeToFile(encoded, encoding, out);
    }
    if (!result) {
      result = decodeTransfer(encoded, encoding, decodedLeft(), out.body, source_);
    }
    decoded_total_ += out.size();
    if (result->truncated) {
      addProblem(mime_problem::kDecodedTooLarge);
    }
    if (result->malformed_base64) {
      addProblem(mime_problem::kMalformedBase64);
    }
    addName(out.filenames, result->uu_filename);
  }

  // A large body that is not text (content and URL rules read text whole, and message/rfc822
  // is parsed again) may be decoded into a file when the limits name a place for it.
  bool mayKeepInAFile(const MimePart& out, std::string_view encoded) const {
    return !limits_.spill_dir.empty() && encoded.size() > limits_.spill_threshold &&
           !out.content_type.starts_with("text/") && !isMessageType(out.content_type);
  }

  // Decodes into an unnamed file in spill_dir and maps it; nullopt (and nothing kept) when the
  // file cannot be made or written, so that the body is decoded into memory instead.
  std::optional<DecodeResult> decodeToFile(std::string_view encoded, TransferEncoding encoding,
                                           MimePart& out) {
    auto body = std::make_shared<SpilledBody>();
    body->fd = UniqueFd(openUnnamedFile(limits_.spill_dir));
    if (!body->fd.valid()) {
      return std::nullopt;
    }
    const DecodeResult result =
        decodeTransferToFile(encoded, encoding, decodedLeft(), body->fd.get(), source_);
    if (result.file_error != 0) {
      return std::nullopt;
    }
    if (result.file_bytes > 0) {
      try {
        body->map = MappedFile(body->fd.get(), static_cast<std::size_t>(result.file_bytes),
                               limits_.spill_dir / "(decoded part)");
      } catch (const IoError&) {
        return std::nullopt;
      }
      out.spilled = std::move(body);
    }
    return result;
  }

  bool roomForPart() {
    if (view_.parts_.size() >= limits_.max_parts) {
      addProblem(mime_problem::kTooManyParts);
      stopped_ = true;
      return false;
    }
    return true;
  }

  void addLeaf(GMimeObject* object, GMimePart* part, std::size_t depth) {
    if (!roomForPart()) {
      return;
    }
    MimePart out;
    out.depth = depth;
    if (GMimeContentType* type = g_mime_object_get_content_type(object)) {
      gmime::String mime_type(g_mime_content_type_get_mime_type(type));
      out.content_type = toLower(trim(cstrView(mime_type.get())));
      out.charset = toLower(trim(cstrView(g_mime_content_type_get_parameter(type, "charset"))));
    }
    if (out.content_type.empty()) {
      out.content_type = "text/plain";
    }
    out.disposition = normalizedDisposition(g_mime_object_get_disposition(object));
    collectFilenames(object, out.filenames);
    decodeBody(part, out);
    if (out.filenames.size() > 1) {
      addProblem(mime_problem::kConflictingFilenames);
    }
    if (isMessageType(out.content_type)) {
      // A message/rfc822 part GMime left whole (it was base64 or quoted-printable encoded, which
      // RFC 2046 forbids and which hides the inner message from naive scanners): parse it.
      if (depth + 1 > limits_.max_depth) {
        addProblem(mime_problem::kDepthExceeded);
      } else {
        const std::string inner = std::move(out.body);
        decoded_total_ -= std::min<std::uint64_t>(decoded_total_, inner.size());
        parseMessage(inner, depth + 1, false);
        return;
      }
    }
    finishLeaf(std::move(out));
  }

  // A multipart with no parts at all (no boundary parameter, or no delimiter line in the body)
  // holds its whole body in the prologue, which mail clients show as text: it becomes a
  // text/plain part so that content and URL rules still see it.
  void addPrologueText(GMimeMultipart* multipart, std::size_t depth) {
    const std::string_view prologue = trim(cstrView(g_mime_multipart_get_prologue(multipart)));
    if (prologue.empty() || depth > limits_.max_depth || !roomForPart()) {
      return;
    }
    MimePart out;
    out.depth = depth;
    out.content_type = "text/plain";
    const std::uint64_t take = std::min<std::uint64_t>(prologue.size(), decodedLeft());
    if (take < prologue.size()) {
      addProblem(mime_problem::kDecodedTooLarge);
    }
    out.body.assign(prologue.substr(0, static_cast<std::size_t>(take)));
    decoded_total_ += out.body.size();
    finishLeaf(std::move(out));
  }

  // Classifies a decoded leaf, lists archives, converts text, collects URLs, and keeps it.
  void finishLeaf(MimePart out) {
    out.is_attachment = !out.filenames.empty() || out.disposition == "attachment";
    out.is_html = out.content_type == "text/html";
    out.is_text = (out.content_type == "text/plain" || out.is_html) && !out.is_attachment;
    // Body text that libmagic's encoding check confirms as text keeps its declared type: the
    // full sniff of text costs about a millisecond and tells nothing a rule needs about the
    // message body. Attachments and anything binary get the full sniff.
    const PagedBytes body = out.bytes();
    out.detected_type =
        out.is_text && isText(out.body) ? out.content_type : sniffMimeType(body.data);
    if (looksLikeArchive(out.detected_type, out.filenames)) {
      listArchiveEntries(out);
    }
    body.release(body.data);  // of a spilled body: what libmagic and the archive listing read
    if (out.content_type.starts_with("text/")) {
      toUtf8(out);
    }
    if (out.content_type == "text/plain" || out.is_html) {
      addUrls(out);
    }
    view_.parts_.push_back(std::move(out));
  }

  void listArchiveEntries(MimePart& out) {
    const ArchiveLimits archive_limits{limits_.max_archive_entries, limits_.max_archive_depth,
                                       limits_.max_archive_nested_bytes};
    ArchiveListing listing = listArchive(out.bytes().data, archive_limits, archive_budget_);
    out.archive_entries = std::move(listing.entries);
    if (listing.encrypted) {
      addProblem(mime_problem::kArchiveEncrypted);
    }
    if (listing.unreadable) {
      addProblem(mime_problem::kArchiveUnreadable);
    }
    if (listing.too_many_entries) {
      addProblem(mime_problem::kArchiveTooManyEntries);
    }
    if (listing.too_deep) {
      addProblem(mime_problem::kArchiveDepthExceeded);
    }
    if (listing.too_large) {
      addProblem(mime_problem::kArchiveTooLarge);
    }
  }

  // Converts a text body to UTF-8; what it grows by is charged to the decoded-bytes budget.
  void toUtf8(MimePart& out) {
    const std::size_t before = out.body.size();
    if (!convertToUtf8(out.body, out.charset) || out.body.size() <= before) {
      return;
    }
    const std::uint64_t growth = out.body.size() - before;
    const std::uint64_t left = decodedLeft();
    if (growth > left) {
      truncateUtf8(out.body, static_cast<std::size_t>(before + left));
      addProblem(mime_problem::kDecodedTooLarge);
    }
    decoded_total_ += out.body.size() - before;
  }

  void addUrls(const MimePart& part) {
    std::vector<std::string> found;
    if (part.is_html) {
      extractHtmlUrls(part.body, found);
    } else {
      extractTextUrls(part.body, found);
    }
    for (auto& url : found) {
      if (url_seen_.insert(url).second) {
        view_.urls_.push_back(std::move(url));
      }
    }
  }

  const MimeLimits& limits_;
  MimeView& view_;
  std::uint64_t decoded_total_ = 0;
  PagedBytes source_;  // the message, when it is parsed from its file
  std::uint64_t archive_budget_;
  bool stopped_ = false;
  std::unordered_set<std::string> url_seen_;
  gmime::ParserOptions options_;
};

MimeView MimeView::parse(const PagedBytes& raw, const MimeLimits& limits) {
  MimeView view;
  try {
    gmime::ensureGMimeInitialized();
    MimeViewBuilder builder(limits, view);
    try {
      builder.build(raw);
    } catch (const std::exception&) {
      // Out of memory half-way: keep what was built and say the view is incomplete.
      builder.addProblem(mime_problem::kUnparseable);
    }
  } catch (const std::exception&) {
    view.problems_.emplace_back(mime_problem::kUnparseable);
  }
  return view;
}

std::vector<std::string> MimeView::headerValues(std::string_view name) const {
  std::vector<std::string> values;
  for (const auto& [field, value] : headers_) {
    if (iequals(field, name)) {
      values.push_back(value);
    }
  }
  return values;
}

}  // namespace relayguard
