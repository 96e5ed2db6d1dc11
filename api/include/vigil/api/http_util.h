// Small HTTP helpers shared by the server and the handlers: query-string decoding and bearer
// token checks. Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vigil/core/status.h"
#include "vigil/core/url_decode.h"

namespace vigil::api {

// Percent-decoding is vigil::UrlDecode (core/url_decode.h).

// Splits "a=1&b=x+y" into decoded (name, value) pairs in order. "a" alone gives ("a", "").
// Empty pieces ("a=1&&b=2") are skipped. InvalidArgument for a bad escape.
Result<std::vector<std::pair<std::string, std::string>>> ParseQueryString(std::string_view query);

// Compares in time that depends only on the length of `presented`, not on where they differ.
bool ConstantTimeEquals(std::string_view presented, std::string_view expected);

// The token of "Bearer <token>" (scheme case-insensitive, blanks trimmed), or "" when there is
// none.
std::string_view BearerToken(std::string_view authorization);

// true when `authorization` is "Bearer <token>" (scheme case-insensitive) and the token equals
// `expected` (compared in constant time). `expected` must not be empty.
bool BearerTokenMatches(std::string_view authorization, std::string_view expected);

}  // namespace vigil::api
