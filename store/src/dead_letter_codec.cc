// Binary encoding of the dead letters kept in RocksDB.
#include "vigil/store/dead_letter_codec.h"

#include <cstdint>

namespace vigil::store {
namespace {

void PutFixed(uint64_t v, int bytes, std::string* out) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xFF));
  }
}

void PutBytes(std::string_view s, std::string* out) {
  PutFixed(s.size(), 4, out);
  out->append(s);
}

// Reads from the front of `in`; every method fails (returns false) rather than read past it.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool Fixed(int bytes, uint64_t* v) {
    if (in_.size() < static_cast<size_t>(bytes)) return false;
    uint64_t r = 0;
    for (int i = 0; i < bytes; ++i) r = (r << 8) | static_cast<uint8_t>(in_[i]);
    in_.remove_prefix(bytes);
    *v = r;
    return true;
  }
  bool Bytes(size_t max, std::string* out) {
    uint64_t n = 0;
    if (!Fixed(4, &n) || n > max || n > in_.size()) return false;
    out->assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace

std::string EncodeDeadLetterValue(const DeadLetter& in) {
  DeadLetter dl = in;
  TruncateDeadLetter(&dl);
  std::string out;
  out.reserve(37 + 20 + dl.source.size() + dl.origin.size() + dl.cluster.size() + dl.error.size() +
              dl.head.size());
  out.push_back(static_cast<char>(kDeadLetterValueVersion));
  PutFixed(static_cast<uint64_t>(dl.received_us), 8, &out);
  PutFixed(static_cast<uint32_t>(dl.partition), 4, &out);
  PutFixed(static_cast<uint64_t>(dl.offset), 8, &out);
  PutFixed(dl.line, 8, &out);
  PutFixed(dl.size, 8, &out);
  for (const std::string* s : {&dl.source, &dl.origin, &dl.cluster, &dl.error, &dl.head}) {
    PutBytes(*s, &out);
  }
  return out;
}

Result<DeadLetter> DecodeDeadLetterValue(std::string_view value) {
  Reader r(value);
  DeadLetter dl;
  uint64_t version = 0, received = 0, partition = 0, offset = 0;
  bool ok = r.Fixed(1, &version) && version == kDeadLetterValueVersion && r.Fixed(8, &received) &&
            r.Fixed(4, &partition) && r.Fixed(8, &offset) && r.Fixed(8, &dl.line) &&
            r.Fixed(8, &dl.size) && r.Bytes(kDeadLetterTextBytes, &dl.source) &&
            r.Bytes(kDeadLetterTextBytes, &dl.origin) &&
            r.Bytes(kDeadLetterTextBytes, &dl.cluster) &&
            r.Bytes(kDeadLetterTextBytes, &dl.error) && r.Bytes(kDeadLetterHeadBytes, &dl.head) &&
            r.done();
  if (!ok) {
    return Status::Corruption("stored dead letter cannot be decoded (" +
                              std::to_string(value.size()) + " bytes)");
  }
  dl.received_us = static_cast<int64_t>(received);
  dl.partition = static_cast<int32_t>(static_cast<uint32_t>(partition));
  dl.offset = static_cast<int64_t>(offset);
  return dl;
}

}  // namespace vigil::store
