// The stored form of stateful operator state: a compact, versioned binary encoding (varints and
// length-prefixed strings). Decoding is defensive: stored bytes may be corrupt.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::detect::internal {

struct Stamp {  // one event: its time and auditID
  int64_t t = 0;
  std::string id;
};

struct Term {  // a distinct value or a learned term, with when it was last seen
  std::string value;
  int64_t t = 0;
  uint32_t mask = 0;  // distinct: must_include bits seen with this value
};

struct Partial {  // a sequence matched up to some step
  int64_t start = 0;  // 0: none
  int64_t last = 0;
  std::vector<std::string> ids;
};

// The state of one (rule, cluster, key); each operator uses the parts it needs.
struct OpStateData {
  std::vector<Stamp> stamps;      // threshold: recent events; distinct: evidence
  std::vector<Term> terms;        // distinct values / new_terms terms
  int64_t episode_start = 0;      // threshold / distinct: the current finding's window start
  int64_t episode_last = 0;
  std::vector<Partial> partials;  // sequence: partials[j] = matched steps 0..j
};

void EncodeState(const OpStateData& s, std::string* out);
// False (and *s unspecified) when the bytes are not a valid encoding.
bool DecodeState(std::string_view in, OpStateData* s);
size_t EstimateBytes(const OpStateData& s);
bool IsEmpty(const OpStateData& s);

std::string EncodeWatermark(int64_t max_us, int64_t first_us);
bool DecodeWatermark(std::string_view in, int64_t* max_us, int64_t* first_us);

}  // namespace vigil::detect::internal
