// Internal: the string, glob and IP primitives the rule engine's operators are built from.
#pragma once

#include <cstdint>
#include <string_view>

namespace vigil::detect::internal {

inline char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// `lower_needle` must already be lower-case.
bool EqualsIgnoreCase(std::string_view text, std::string_view lower_needle);
bool StartsWithIgnoreCase(std::string_view text, std::string_view lower_needle);
bool EndsWithIgnoreCase(std::string_view text, std::string_view lower_needle);
bool ContainsIgnoreCase(std::string_view text, std::string_view lower_needle);

// Shell glob over the whole text: * (any run), ? (one byte), [abc] [a-z] [!abc] [^abc];
// a backslash escapes the next pattern byte. With `ignore_case` the pattern must be lower-case.
bool GlobMatch(std::string_view pattern, std::string_view text, bool ignore_case);

// An IPv4 or IPv6 address; IPv4-mapped IPv6 (::ffff:a.b.c.d) is normalised to IPv4.
struct IpAddr {
  bool v6 = false;
  uint8_t bytes[16] = {};
};
bool ParseIp(std::string_view text, IpAddr* out);

struct Cidr {
  IpAddr net;
  int prefix = 0;
};
// "10.0.0.0/8", "fd00::/8", or a plain address (full-length prefix).
bool ParseCidr(std::string_view text, Cidr* out);
bool CidrContains(const Cidr& cidr, const IpAddr& ip);

// Private (RFC 1918, RFC 4193 fc00::/7), loopback, link-local, CGNAT 100.64/10.
bool IsPrivateIp(const IpAddr& ip);
// Routable unicast: not private/loopback/link-local, not unspecified, multicast or reserved.
bool IsPublicIp(const IpAddr& ip);

}  // namespace vigil::detect::internal
