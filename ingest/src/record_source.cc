// RecordBatch and RecordWhere (see record_source.h).
#include "vigil/ingest/record_source.h"

namespace vigil::ingest {

void RecordBatch::Add(uint32_t origin, uint64_t position, uint64_t line, const char* data,
                      size_t len) {
  RawRecord& r = records.emplace_back();
  r.origin = origin;
  r.position = position;
  r.line = line;
  r.offset = bytes.size();
  r.len = len;
  r.size = len;
  bytes.Append(data, len);
}

void RecordBatch::AddProblem(uint32_t origin, RawRecord::Kind kind, uint64_t position,
                             uint64_t line, std::string message, uint64_t size,
                             std::string_view head) {
  RawRecord& r = records.emplace_back();
  r.origin = origin;
  r.kind = kind;
  r.position = position;
  r.line = line;
  r.offset = bytes.size();
  r.len = head.size();
  r.size = size;
  r.message = std::move(message);
  bytes.Append(head.data(), head.size());
}

void RecordBatch::clear(size_t max_bytes) {
  if (bytes.capacity() > 2 * max_bytes + 4096) bytes = PaddedBuffer();  // a big record's
  bytes.clear();
  origins.clear();
  records.clear();
  source_bytes = 0;
}

std::string RecordWhere(const RecordOrigin& origin, const RawRecord& record) {
  if (origin.lines) return origin.name + ":" + std::to_string(record.line);
  return origin.name + "@" + std::to_string(record.position);
}

}  // namespace vigil::ingest
