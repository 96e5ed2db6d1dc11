// Percent-decoding, strict and lenient.
#include "vigil/core/url_decode.h"

namespace vigil {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes into *out; returns false at the first bad escape when `strict`.
bool Decode(std::string_view in, bool plus_is_space, bool strict, std::string* out) {
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      const int hi = i + 2 < in.size() ? HexValue(in[i + 1]) : -1;
      const int lo = i + 2 < in.size() ? HexValue(in[i + 2]) : -1;
      if (hi >= 0 && lo >= 0) {
        out->push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
      if (strict) return false;
      out->push_back(c);
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

}  // namespace

Result<std::string> UrlDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  if (!Decode(in, plus_is_space, /*strict=*/true, &out)) {
    return Status::InvalidArgument("bad or truncated percent escape");
  }
  return out;
}

std::string UrlDecodeLenient(std::string_view in, bool plus_is_space) {
  std::string out;
  Decode(in, plus_is_space, /*strict=*/false, &out);
  return out;
}

}  // namespace vigil
