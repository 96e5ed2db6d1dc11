// Query-string access for audit requestURIs (e.g. the ?command=...&command=... of pods/exec).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace vigil::detect {

// Returns the URL-decoded values of every query parameter called `name` in `uri`, in order.
// Keys and values are decoded the way Go's url.ParseQuery does: "%XX" is a byte, "+" is a
// space. Malformed escapes ("%zz", a trailing "%") are kept literally instead of failing.
// A parameter without "=" has the empty value. The fragment ("#...") is ignored.
std::vector<std::string> QueryParams(std::string_view uri, std::string_view name);

// URL-decodes one query component as above.
std::string UrlDecode(std::string_view text);

}  // namespace vigil::detect
