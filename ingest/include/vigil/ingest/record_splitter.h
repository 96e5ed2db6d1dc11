// RecordSplitter: streaming framing of a byte stream into top-level JSON records, with bounded
// memory. Detects JSON lines, a JSON array (elements are records, possibly pretty-printed) and
// concatenated or pretty-printed objects by content.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "vigil/ingest/padded_buffer.h"

namespace vigil::ingest {

class RecordSplitter {
 public:
  enum class Framing : uint8_t { kUndecided, kJsonLines, kStructural };

  // Receives records while Feed()/Finish() run. `data` stays valid (and readable up to
  // data + capacity, capacity >= len + SIMDJSON_PADDING) only during the call.
  class Sink {
   public:
    virtual ~Sink() = default;
    virtual void OnRecord(const char* data, size_t len, size_t capacity, uint64_t line,
                          uint64_t offset) = 0;
    // A record larger than max_record_bytes was skipped (not buffered); `bytes` is its size.
    virtual void OnOversize(uint64_t bytes, uint64_t line, uint64_t offset) = 0;
  };

  // Framing is chosen from the first bytes: '[' first -> array of records (structural); else if
  // the first non-empty line is a complete JSON value -> JSON lines; else structural splitting
  // (pretty-printed or concatenated values).
  explicit RecordSplitter(size_t max_record_bytes);

  // Starts a new stream. With the defaults, at its beginning. To resume a stream at a record
  // start, pass that record's 1-based line and offset (positions reported from then on are
  // absolute) and, when known, the framing decided for the whole stream (see DetectFraming): a
  // stream's framing is decided by its first line, which the resumed part may not show.
  void Reset(uint64_t line = 1, uint64_t offset = 0, Framing framing = Framing::kUndecided);
  // The framing Feed() would choose for a stream starting with [p, p+n): kUndecided when more
  // bytes are needed (never when at_eof, or once n > max_record_bytes).
  static Framing DetectFraming(const char* p, size_t n, bool at_eof, size_t max_record_bytes);
  // `data` must be readable up to data + capacity (capacity >= n + SIMDJSON_PADDING).
  void Feed(const char* data, size_t n, size_t capacity, Sink& sink);
  // End of input: delivers a last unterminated line or an incomplete record (which then fails
  // to parse, so truncation is reported).
  void Finish(Sink& sink);
  // Drops whatever is buffered (after a read error) without delivering it.
  void Abandon();

  // Where a record starts that has begun but is not complete yet (what Abandon() would drop, or
  // what Finish() would deliver as a truncated record); nullopt when there is none. Whitespace
  // and array punctuation between records are not a record.
  struct Partial {
    uint64_t line = 0;    // 1-based line where the record starts
    uint64_t offset = 0;  // its offset in the stream
  };
  std::optional<Partial> partial() const;

  Framing framing() const { return framing_; }
  uint64_t line() const { return line_; }      // 1-based line of the next byte
  uint64_t offset() const { return offset_; }  // bytes consumed so far

 private:
  // DetectFraming, not searching for the first newline before `scanned`.
  static Framing Detect(const char* p, size_t n, bool at_eof, size_t max, size_t scanned);
  void Decide(bool at_eof, Sink& sink);
  void FeedLines(const char* data, size_t n, size_t capacity, Sink& sink);
  void FeedStructural(const char* data, size_t n, size_t capacity, Sink& sink);
  void EmitLine(const char* data, size_t len, size_t capacity, Sink& sink);

  size_t max_;
  Framing framing_ = Framing::kUndecided;
  uint64_t line_ = 1;
  uint64_t offset_ = 0;
  uint64_t base_line_ = 1;  // where the stream starts (Reset): line and offset
  uint64_t base_offset_ = 0;
  PaddedBuffer head_;        // bytes seen while undecided
  size_t head_scanned_ = 0;  // head_ bytes already searched for the first newline

  // JSON lines state.
  PaddedBuffer pending_;
  bool skipping_ = false;
  uint64_t skip_bytes_ = 0;
  uint64_t line_start_offset_ = 0;

  // Structural state.
  bool in_record_ = false;
  bool in_array_ = false;
  bool scalar_ = false;
  bool in_string_ = false;
  bool escape_ = false;
  uint32_t depth_ = 0;
  uint64_t rec_line_ = 0;
  uint64_t rec_offset_ = 0;
  uint64_t rec_bytes_ = 0;
  PaddedBuffer record_;
};

}  // namespace vigil::ingest
