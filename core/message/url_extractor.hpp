// url_extractor: finds URLs in decoded message text for the URL rules.
//
// Plain text: http://, https://, ftp:// URLs and bare "www." hosts. HTML: the same after
// decoding character references (so "h&#116;tp://" is found), plus the values of href, src,
// action and background attributes that point somewhere absolute (scheme, "//" or "www.").
// Trailing punctuation and unbalanced closing brackets are not part of a URL. The host of a
// URL is urlHost() (declared in mime_view.hpp, defined in url_extractor.cpp).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace relayguard {

// Appends the URLs of UTF-8 `text` to `out` in order of appearance (duplicates kept).
void extractTextUrls(std::string_view text, std::vector<std::string>& out);

// Appends the URLs of an HTML document to `out` in order of appearance (duplicates kept).
void extractHtmlUrls(std::string_view html, std::vector<std::string>& out);

// Decodes HTML character references: &#NN; &#xHH; (the ';' optional, as browsers allow) and
// the named ones used in URLs and obfuscation (&amp; &lt; &gt; &quot; &apos; &nbsp; &colon;
// &sol; &period; ...). Unknown references stay as written.
std::string decodeHtmlEntities(std::string_view html);

}  // namespace relayguard
