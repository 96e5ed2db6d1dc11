// Internal: helpers shared by envelope.cc and envelope_shippers.cc.
#pragma once

#include <cstddef>
#include <string_view>

#include "vigil/core/status.h"
#include "vigil/ingest/envelope.h"

namespace vigil::ingest::internal {

// The first non-blank line is a whole JSON value ('{' ... '}' or '[' ... ']') and another
// non-blank line follows: several values batched into one record, one per line. A pretty-printed
// value fails this (its first line is "{", or ends with ',').
bool LooksLikeJsonLines(const char* data, size_t len);

// InvalidArgument "expected <the shape of choice>[, got <got>] (envelope forced to '<name>')".
Status ExpectedShapeError(EnvelopeChoice choice, std::string_view got = {});

// kVector, kFluentBit or kLogstash for a shipper choice; kUnknown for the others.
EnvelopeKind ShipperKind(EnvelopeChoice choice);

}  // namespace vigil::ingest::internal
