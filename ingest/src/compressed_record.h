// Internal: the compressed records of CloudWatch Logs subscriptions delivered through Kinesis or
// Firehose bridges: gzip (magic 1f 8b), or base64 text of gzip (starting "H4sI"). Both are bounded:
// output never grows past the caller's limit, whatever the input claims.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "vigil/core/status.h"
#include "vigil/ingest/padded_buffer.h"

namespace vigil::ingest::internal {

// The record starts with the gzip magic bytes 1f 8b.
bool IsGzip(const char* data, size_t len);
// The record starts with "H4sI", the base64 text of 1f 8b 08 (gzip, deflate).
bool IsBase64Gzip(const char* data, size_t len);

// Standard base64 (RFC 4648 section 4, '=' padding optional, ASCII whitespace ignored) into *out
// (replaced). InvalidArgument naming the first bad byte; *out is then unspecified.
Status Base64Decode(std::string_view text, std::string* out);

// Inflates gzip data (one member or several concatenated) into *out (replaced, padded for
// simdjson). InvalidArgument when the output would pass `limit` bytes (no more than limit + 1
// bytes are ever written), when the stream is truncated or corrupt, or when bytes that are not
// another gzip member follow it.
Status Gunzip(const char* data, size_t len, size_t limit, PaddedBuffer* out);

}  // namespace vigil::ingest::internal
