// Internal: membership tests for predicates with many literals (`user.username in (list)`,
// `userAgent|lower contains (list)`), which the engine would otherwise test one literal at a time
// on every candidate event.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::detect::internal {

// Exact byte equality against a set of strings. Immutable after construction.
class StringSet {
 public:
  explicit StringSet(std::vector<std::string> items);

  bool Contains(std::string_view s) const;

 private:
  uint64_t length_mask_ = 0;        // bit min(length, 63) of every item
  std::vector<std::string> items_;  // sorted by (length, bytes)
};

// "Some needle is a substring of the text". With `ignore_case`, needles must be lower-case and
// text bytes are ASCII-lowered before comparing (as ContainsIgnoreCase). Immutable after
// construction.
class SubstringSet {
 public:
  SubstringSet(std::vector<std::string> needles, bool ignore_case);

  bool FoundIn(std::string_view text) const;

 private:
  bool ignore_case_;
  bool has_empty_ = false;
  uint64_t single_[4] = {};  // bytes that are a one-byte needle
  // The longer needles are found by their first prefix_len_ (2 to 4) bytes, packed as a key:
  // a hashed bitset of the keys, then the needles sorted by key.
  size_t prefix_len_ = 4;
  uint64_t prefix_bits_[64] = {};
  std::vector<std::pair<uint32_t, std::string>> long_;
};

}  // namespace vigil::detect::internal
