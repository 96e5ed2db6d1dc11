// Encoding of stateful operator state; see state_codec.h.
#include "state_codec.h"

namespace vigil::detect::internal {
namespace {

constexpr uint8_t kVersion = 1;
constexpr uint64_t kMaxItems = 1'000'000;  // a decoded count over this is corruption

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Zigzag, so that small negative times stay small.
void PutSigned(int64_t v, std::string* out) {
  PutVarint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63), out);
}

void PutString(std::string_view s, std::string* out) {
  PutVarint(s.size(), out);
  out->append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) return false;
      auto b = static_cast<uint8_t>(in_.front());
      in_.remove_prefix(1);
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  bool Signed(int64_t* v) {
    uint64_t u = 0;
    if (!Varint(&u)) return false;
    *v = static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
    return true;
  }
  bool String(std::string* s) {
    uint64_t n = 0;
    if (!Varint(&n) || n > in_.size()) return false;
    s->assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  bool Count(uint64_t* n) { return Varint(n) && *n <= kMaxItems && *n <= in_.size(); }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace

void EncodeState(const OpStateData& s, std::string* out) {
  out->push_back(static_cast<char>(kVersion));
  PutVarint(s.stamps.size(), out);
  for (const Stamp& x : s.stamps) {
    PutSigned(x.t, out);
    PutString(x.id, out);
  }
  PutVarint(s.terms.size(), out);
  for (const Term& x : s.terms) {
    PutString(x.value, out);
    PutSigned(x.t, out);
    PutVarint(x.mask, out);
  }
  PutSigned(s.episode_start, out);
  PutSigned(s.episode_last, out);
  PutVarint(s.partials.size(), out);
  for (const Partial& p : s.partials) {
    PutSigned(p.start, out);
    PutSigned(p.last, out);
    PutVarint(p.ids.size(), out);
    for (const std::string& id : p.ids) PutString(id, out);
  }
}

bool DecodeState(std::string_view in, OpStateData* s) {
  if (in.empty() || static_cast<uint8_t>(in.front()) != kVersion) return false;
  Reader r(in.substr(1));
  *s = OpStateData{};
  uint64_t n = 0;
  if (!r.Count(&n)) return false;
  s->stamps.resize(n);
  for (Stamp& x : s->stamps) {
    if (!r.Signed(&x.t) || !r.String(&x.id)) return false;
  }
  if (!r.Count(&n)) return false;
  s->terms.resize(n);
  for (Term& x : s->terms) {
    uint64_t mask = 0;
    if (!r.String(&x.value) || !r.Signed(&x.t) || !r.Varint(&mask)) return false;
    x.mask = static_cast<uint32_t>(mask);
  }
  if (!r.Signed(&s->episode_start) || !r.Signed(&s->episode_last)) return false;
  if (!r.Count(&n)) return false;
  s->partials.resize(n);
  for (Partial& p : s->partials) {
    uint64_t ids = 0;
    if (!r.Signed(&p.start) || !r.Signed(&p.last) || !r.Count(&ids)) return false;
    p.ids.resize(ids);
    for (std::string& id : p.ids) {
      if (!r.String(&id)) return false;
    }
  }
  return r.done();
}

size_t EstimateBytes(const OpStateData& s) {
  size_t b = sizeof(OpStateData);
  for (const Stamp& x : s.stamps) b += sizeof(Stamp) + x.id.capacity();
  for (const Term& x : s.terms) b += sizeof(Term) + x.value.capacity();
  for (const Partial& p : s.partials) {
    b += sizeof(Partial);
    for (const std::string& id : p.ids) b += sizeof(std::string) + id.capacity();
  }
  return b;
}

bool IsEmpty(const OpStateData& s) {
  return s.stamps.empty() && s.terms.empty() && s.episode_start == 0 && s.partials.empty();
}

std::string EncodeWatermark(int64_t max_us, int64_t first_us) {
  std::string out;
  out.push_back(static_cast<char>(kVersion));
  PutSigned(max_us, &out);
  PutSigned(first_us, &out);
  return out;
}

bool DecodeWatermark(std::string_view in, int64_t* max_us, int64_t* first_us) {
  if (in.empty() || static_cast<uint8_t>(in.front()) != kVersion) return false;
  Reader r(in.substr(1));
  return r.Signed(max_us) && r.Signed(first_us) && r.done();
}

}  // namespace vigil::detect::internal
