// Byte layout of a dead letter stored in the "deadletters" column family (see store/README.md).
// Binary, not JSON: the head is raw bytes and must come back exactly. Public for tests and
// future migration tools.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "vigil/core/dead_letter.h"
#include "vigil/core/status.h"

namespace vigil::store {

inline constexpr uint8_t kDeadLetterValueVersion = 1;

// [version=1][received_us i64][partition i32][offset i64][line u64][size u64] (big-endian),
// then source, origin, cluster, error, head, each as a u32 big-endian length and the bytes.
// Cuts the fields first (TruncateDeadLetter), so a value is at most ~17.5 KiB.
std::string EncodeDeadLetterValue(const DeadLetter& dl);

// Corruption for anything EncodeDeadLetterValue did not produce (short, unknown version, a
// length past the end, trailing bytes). Never reads out of bounds.
Result<DeadLetter> DecodeDeadLetterValue(std::string_view value);

}  // namespace vigil::store
