// Many-literal membership tests (see literal_sets.h).
#include "literal_sets.h"

#include <algorithm>

#include "engine_match.h"

namespace vigil::detect::internal {

namespace {

bool ShorterOrLess(std::string_view a, std::string_view b) {
  return a.size() != b.size() ? a.size() < b.size() : a < b;
}

uint64_t LengthBit(size_t n) { return uint64_t{1} << (n < 63 ? n : 63); }

size_t KeyHash(uint32_t key) { return (key * 0x9E3779B1u) >> 20; }

}  // namespace

StringSet::StringSet(std::vector<std::string> items) : items_(std::move(items)) {
  std::sort(items_.begin(), items_.end(), ShorterOrLess);
  items_.erase(std::unique(items_.begin(), items_.end()), items_.end());
  for (const std::string& s : items_) length_mask_ |= LengthBit(s.size());
}

bool StringSet::Contains(std::string_view s) const {
  if ((length_mask_ & LengthBit(s.size())) == 0) return false;
  auto it = std::lower_bound(
      items_.begin(), items_.end(), s,
      [](const std::string& a, std::string_view b) { return ShorterOrLess(a, b); });
  return it != items_.end() && *it == s;
}

SubstringSet::SubstringSet(std::vector<std::string> needles, bool ignore_case)
    : ignore_case_(ignore_case) {
  for (const std::string& n : needles) {
    if (n.size() >= 2) prefix_len_ = std::min(prefix_len_, n.size());
  }
  for (std::string& n : needles) {
    if (n.empty()) {
      has_empty_ = true;
    } else if (n.size() == 1) {
      unsigned char c = static_cast<unsigned char>(n[0]);
      single_[c >> 6] |= uint64_t{1} << (c & 63);
    } else {
      uint32_t key = 0;
      for (size_t i = 0; i < prefix_len_; ++i) key = key << 8 | static_cast<unsigned char>(n[i]);
      size_t h = KeyHash(key);
      prefix_bits_[h >> 6] |= uint64_t{1} << (h & 63);
      long_.emplace_back(key, std::move(n));
    }
  }
  std::sort(long_.begin(), long_.end());
}

bool SubstringSet::FoundIn(std::string_view text) const {
  if (has_empty_) return true;
  auto byte = [&](size_t i) {
    char c = ignore_case_ ? AsciiLower(text[i]) : text[i];
    return static_cast<unsigned char>(c);
  };
  const size_t n = text.size();
  const uint32_t key_mask = prefix_len_ == 4 ? 0xFFFFFFFFu : (uint32_t{1} << (8 * prefix_len_)) - 1;
  uint32_t key = 0;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = byte(i);
    if (single_[c >> 6] & (uint64_t{1} << (c & 63))) return true;
    key = (key << 8 | c) & key_mask;
    if (i + 1 < prefix_len_ || long_.empty()) continue;
    const size_t h = KeyHash(key);
    if ((prefix_bits_[h >> 6] & (uint64_t{1} << (h & 63))) == 0) continue;
    // text[start, n) begins with the key: compare the rest of each needle with that key.
    const size_t start = i + 1 - prefix_len_;
    auto it = std::lower_bound(long_.begin(), long_.end(), key,
                               [](const auto& e, uint32_t k) { return e.first < k; });
    for (; it != long_.end() && it->first == key; ++it) {
      const std::string& needle = it->second;
      if (needle.size() > n - start) continue;
      size_t j = prefix_len_;
      while (j < needle.size() && byte(start + j) == static_cast<unsigned char>(needle[j])) ++j;
      if (j == needle.size()) return true;
    }
  }
  return false;
}

}  // namespace vigil::detect::internal
