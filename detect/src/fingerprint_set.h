// FingerprintSet: a flat, open-addressing set of 128-bit fingerprints of byte strings, for the
// per-event dedup check on the hot path (a node-based set of strings cost a heap allocation
// and several cache misses per event). Two distinct keys share a fingerprint with probability
// about n^2 / 2^129: never, for the few hundred thousand keys one checkpoint holds.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace vigil::detect::internal {

struct Fingerprint {
  uint64_t a = 0;
  uint64_t b = 0;  // never both 0 (0,0 marks an empty slot)
  bool operator==(const Fingerprint& o) const { return a == o.a && b == o.b; }
};

// Two independently seeded 64-bit hashes (multiply-xorshift over 8-byte words).
inline Fingerprint FingerprintOf(std::string_view s) {
  auto mix = [](uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
  };
  uint64_t a = 0x9e3779b97f4a7c15ULL ^ s.size();
  uint64_t b = 0x6a09e667f3bcc909ULL + s.size();
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    a = mix(a ^ w) + 0x632be59bd9b4e019ULL;
    b = mix(b + w * 0x9fb21c651e98df25ULL) ^ 0xd6e8feb86659fd93ULL;
  }
  uint64_t tail = 0;
  if (i < s.size()) std::memcpy(&tail, s.data() + i, s.size() - i);
  a = mix(a ^ tail ^ 0x27d4eb2f165667c5ULL);
  b = mix(b + tail * 0x94d049bb133111ebULL);
  if (a == 0 && b == 0) b = 1;
  return Fingerprint{a, b};
}

class FingerprintSet {
 public:
  // Inserts; false when it was already there.
  bool Insert(const Fingerprint& f) {
    if ((size_ + 1) * 2 > slots_.size()) Grow();
    size_t mask = slots_.size() - 1;
    for (size_t i = f.a & mask;; i = (i + 1) & mask) {
      if (slots_[i] == Fingerprint{}) {
        slots_[i] = f;
        ++size_;
        return true;
      }
      if (slots_[i] == f) return false;
    }
  }
  bool Contains(const Fingerprint& f) const {
    if (slots_.empty()) return false;
    size_t mask = slots_.size() - 1;
    for (size_t i = f.a & mask;; i = (i + 1) & mask) {
      if (slots_[i] == Fingerprint{}) return false;
      if (slots_[i] == f) return true;
    }
  }
  // Removes f (which must be present), keeping probe chains intact (backward shift).
  void Erase(const Fingerprint& f) {
    size_t mask = slots_.size() - 1;
    size_t i = f.a & mask;
    while (!(slots_[i] == f)) i = (i + 1) & mask;
    for (size_t j = (i + 1) & mask; !(slots_[j] == Fingerprint{}); j = (j + 1) & mask) {
      size_t home = slots_[j].a & mask;
      // Move slots_[j] into the hole at i when its home is not in (i, j].
      if (((j - home) & mask) >= ((j - i) & mask)) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = Fingerprint{};
    --size_;
  }
  void Clear() {
    std::fill(slots_.begin(), slots_.end(), Fingerprint{});
    size_ = 0;
  }
  size_t size() const { return size_; }

 private:
  void Grow() {
    std::vector<Fingerprint> old = std::move(slots_);
    slots_.assign(old.empty() ? 1024 : old.size() * 2, Fingerprint{});
    size_ = 0;
    for (const Fingerprint& f : old) {
      if (!(f == Fingerprint{})) Insert(f);
    }
  }

  std::vector<Fingerprint> slots_;
  size_t size_ = 0;
};

}  // namespace vigil::detect::internal
