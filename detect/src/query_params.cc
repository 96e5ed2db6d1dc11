// URL-decoding of requestURI query parameters.
#include "vigil/detect/query_params.h"

#include "vigil/core/url_decode.h"

namespace vigil::detect {

std::string UrlDecode(std::string_view text) { return UrlDecodeLenient(text); }

std::vector<std::string> QueryParams(std::string_view uri, std::string_view name) {
  std::vector<std::string> values;
  size_t q = uri.find('?');
  if (q == std::string_view::npos) return values;
  std::string_view query = uri.substr(q + 1);
  query = query.substr(0, query.find('#'));
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (UrlDecode(key) == name) values.push_back(UrlDecode(value));
  }
  return values;
}

}  // namespace vigil::detect
