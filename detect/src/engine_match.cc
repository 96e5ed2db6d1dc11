// String, glob and IP primitives of the rule engine (see engine_match.h).
#include "engine_match.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace vigil::detect::internal {

bool EqualsIgnoreCase(std::string_view text, std::string_view lower_needle) {
  if (text.size() != lower_needle.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (AsciiLower(text[i]) != lower_needle[i]) return false;
  }
  return true;
}

bool StartsWithIgnoreCase(std::string_view text, std::string_view lower_needle) {
  return text.size() >= lower_needle.size() &&
         EqualsIgnoreCase(text.substr(0, lower_needle.size()), lower_needle);
}

bool EndsWithIgnoreCase(std::string_view text, std::string_view lower_needle) {
  return text.size() >= lower_needle.size() &&
         EqualsIgnoreCase(text.substr(text.size() - lower_needle.size()), lower_needle);
}

bool ContainsIgnoreCase(std::string_view text, std::string_view lower_needle) {
  if (lower_needle.empty()) return true;
  if (text.size() < lower_needle.size()) return false;
  for (size_t i = 0; i + lower_needle.size() <= text.size(); ++i) {
    if (AsciiLower(text[i]) == lower_needle[0] &&
        EqualsIgnoreCase(text.substr(i, lower_needle.size()), lower_needle)) {
      return true;
    }
  }
  return false;
}

namespace {

// Matches one pattern element at p against c; advances *p past it. Sets *ok false on a
// malformed class (treated as a literal '[').
bool MatchOne(std::string_view pat, size_t* p, char c, bool ic) {
  if (ic) c = AsciiLower(c);
  char pc = pat[*p];
  if (pc == '?') {
    ++*p;
    return true;
  }
  if (pc == '\\' && *p + 1 < pat.size()) {
    *p += 2;
    return pat[*p - 1] == c;
  }
  if (pc == '[') {
    size_t i = *p + 1;
    bool negate = false;
    if (i < pat.size() && (pat[i] == '!' || pat[i] == '^')) {
      negate = true;
      ++i;
    }
    bool matched = false;
    bool first = true;
    while (i < pat.size() && (first || pat[i] != ']')) {
      first = false;
      char lo = pat[i];
      char hi = lo;
      if (i + 2 < pat.size() && pat[i + 1] == '-' && pat[i + 2] != ']') {
        hi = pat[i + 2];
        i += 3;
      } else {
        ++i;
      }
      if (c >= lo && c <= hi) matched = true;
    }
    if (i >= pat.size()) {  // no closing ']': a literal '['
      ++*p;
      return c == '[';
    }
    *p = i + 1;
    return matched != negate;
  }
  ++*p;
  return pc == c;
}

}  // namespace

bool GlobMatch(std::string_view pat, std::string_view text, bool ic) {
  size_t p = 0, t = 0;
  size_t star_p = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (p < pat.size() && pat[p] == '*') {
      star_p = ++p;
      star_t = t;
      continue;
    }
    size_t next = p;
    if (p < pat.size() && MatchOne(pat, &next, text[t], ic)) {
      p = next;
      ++t;
      continue;
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p;
    t = ++star_t;
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

bool ParseIp(std::string_view text, IpAddr* out) {
  char buf[64];
  if (text.empty() || text.size() >= sizeof(buf)) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  *out = IpAddr();
  if (inet_pton(AF_INET, buf, out->bytes) == 1) return true;
  uint8_t v6[16];
  if (inet_pton(AF_INET6, buf, v6) != 1) return false;
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(v6, kMapped, 12) == 0) {
    std::memcpy(out->bytes, v6 + 12, 4);
    return true;
  }
  out->v6 = true;
  std::memcpy(out->bytes, v6, 16);
  return true;
}

bool ParseCidr(std::string_view text, Cidr* out) {
  size_t slash = text.find('/');
  if (!ParseIp(text.substr(0, slash), &out->net)) return false;
  const int max = out->net.v6 ? 128 : 32;
  if (slash == std::string_view::npos) {
    out->prefix = max;
    return true;
  }
  std::string_view p = text.substr(slash + 1);
  int prefix = -1;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
  if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || prefix < 0 || prefix > max) {
    return false;
  }
  // An IPv4-mapped IPv6 network is an IPv4 network.
  if (!out->net.v6 && text.substr(0, slash).find(':') != std::string_view::npos) {
    prefix -= 96;
    if (prefix < 0) return false;
  }
  out->prefix = prefix;
  return true;
}

bool CidrContains(const Cidr& cidr, const IpAddr& ip) {
  if (cidr.net.v6 != ip.v6) return false;
  int bits = cidr.prefix;
  for (int i = 0; bits > 0; ++i, bits -= 8) {
    uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((cidr.net.bytes[i] & mask) != (ip.bytes[i] & mask)) return false;
  }
  return true;
}

namespace {

bool InV4(const IpAddr& ip, uint8_t a, uint8_t b, int prefix) {
  Cidr c;
  c.net.bytes[0] = a;
  c.net.bytes[1] = b;
  c.prefix = prefix;
  return CidrContains(c, ip);
}

bool InV6(const IpAddr& ip, uint8_t a, uint8_t b, int prefix) {
  Cidr c;
  c.net.v6 = true;
  c.net.bytes[0] = a;
  c.net.bytes[1] = b;
  c.prefix = prefix;
  return CidrContains(c, ip);
}

}  // namespace

bool IsPrivateIp(const IpAddr& ip) {
  if (!ip.v6) {
    return InV4(ip, 10, 0, 8) || InV4(ip, 172, 16, 12) || InV4(ip, 192, 168, 16) ||
           InV4(ip, 127, 0, 8) || InV4(ip, 169, 254, 16) || InV4(ip, 100, 64, 10);
  }
  static const uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return std::memcmp(ip.bytes, kLoopback, 16) == 0 || InV6(ip, 0xfc, 0, 7) ||
         InV6(ip, 0xfe, 0x80, 10);
}

bool IsPublicIp(const IpAddr& ip) {
  if (IsPrivateIp(ip)) return false;
  if (!ip.v6) {
    return !(InV4(ip, 0, 0, 8) || InV4(ip, 224, 0, 4) || InV4(ip, 240, 0, 4));
  }
  static const uint8_t kZero[16] = {};
  if (std::memcmp(ip.bytes, kZero, 16) == 0) return false;
  return !InV6(ip, 0xff, 0, 8);  // multicast
}

}  // namespace vigil::detect::internal
