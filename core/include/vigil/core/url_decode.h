// Percent-decoding (RFC 3986) of query strings and URIs, shared by the API (request queries) and
// detection (requestURI parameters such as an exec's command=).
#pragma once

#include <string>
#include <string_view>

#include "vigil/core/status.h"

namespace vigil {

// Strict: a truncated or non-hex escape is InvalidArgument. '+' decodes to a space when
// `plus_is_space` (form encoding). Any byte may result, NUL included.
Result<std::string> UrlDecode(std::string_view in, bool plus_is_space = true);

// Lenient, for text that is only being read (audit URIs): a bad escape is kept as written.
std::string UrlDecodeLenient(std::string_view in, bool plus_is_space = true);

}  // namespace vigil
