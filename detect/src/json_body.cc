// Lazy requestObject decoding (see json_body.h).
#include "json_body.h"

#include <cstring>

namespace vigil::detect {

JsonBodyParser::JsonBodyParser(size_t max_bytes) : max_bytes_(max_bytes), parser_(max_bytes) {}

bool JsonBodyParser::Parse(std::string_view json, simdjson::dom::element* root) {
  if (json.empty() || json.size() > max_bytes_) return false;
  if (buffer_.size() < json.size() + simdjson::SIMDJSON_PADDING) {
    buffer_.resize(json.size() + simdjson::SIMDJSON_PADDING);
  }
  std::memcpy(buffer_.data(), json.data(), json.size());
  // realloc_if_needed=false: buffer_ already carries the padding simdjson reads past the end.
  return parser_.parse(buffer_.data(), json.size(), false).get(*root) == simdjson::SUCCESS;
}

const simdjson::dom::element* LazyBody::Get() {
  if (!tried_) {
    tried_ = true;
    ok_ = parser_->Parse(raw_, &root_);
  }
  return ok_ ? &root_ : nullptr;
}

}  // namespace vigil::detect
