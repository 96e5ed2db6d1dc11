// Lazy decoding of an event's raw requestObject with a reusable simdjson DOM parser, so rules
// pay for JSON parsing only when their cheap checks (verb, resource) already matched.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <string_view>
#include <vector>

namespace vigil::detect {

// Owns a padded copy buffer and a DOM parser, both reused across events. Not thread-safe.
class JsonBodyParser {
 public:
  // Bodies larger than this are not decoded (the apiserver itself caps requests near 3 MB).
  static constexpr size_t kDefaultMaxBytes = 8 << 20;

  explicit JsonBodyParser(size_t max_bytes = kDefaultMaxBytes);

  // Parses `json`. On success sets *root (valid until the next Parse) and returns true; returns
  // false for an empty, oversized, too deeply nested or malformed document.
  bool Parse(std::string_view json, simdjson::dom::element* root);

 private:
  size_t max_bytes_;
  std::vector<char> buffer_;  // the raw slice plus SIMDJSON_PADDING bytes
  simdjson::dom::parser parser_;
};

// One event's body, decoded on first Get(). Lives for one Evaluate call.
class LazyBody {
 public:
  LazyBody(JsonBodyParser* parser, std::string_view raw) : parser_(parser), raw_(raw) {}

  // The decoded root, or nullptr when the body is absent or cannot be decoded.
  const simdjson::dom::element* Get();

 private:
  JsonBodyParser* parser_;
  std::string_view raw_;
  bool tried_ = false;
  bool ok_ = false;
  simdjson::dom::element root_;
};

}  // namespace vigil::detect
