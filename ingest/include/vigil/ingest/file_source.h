// FileSource: reads audit logs from files, gzip files and directories, frames them into records
// (JSON lines, JSON arrays, pretty-printed or concatenated objects), unwraps envelopes and
// delivers AuditEvents with their position. For replaying history and for tests.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/core/audit_event.h"
#include "vigil/core/status.h"
#include "vigil/ingest/envelope.h"
#include "vigil/ingest/function_ref.h"
#include "vigil/ingest/padded_buffer.h"
#include "vigil/ingest/record_splitter.h"

namespace vigil::ingest {

// Where to resume a file: the start of a record, as reported in SourcePosition.
struct ResumePoint {
  uint64_t byte_offset = 0;  // decompressed offset of a record start
  uint64_t line = 1;         // its 1-based line (so error positions stay right)
};

struct FileSourceOptions {
  EnvelopeOptions envelope;             // per-event (1 MiB) and per-record (64 MiB) limits
  size_t read_chunk_bytes = 256 << 10;  // decompressed bytes read per call
  // When set and true, reading stops at the next chunk (ReadPaths returns Unavailable). Lets a
  // server shut down in the middle of a long replay.
  const std::atomic<bool>* cancel = nullptr;
  // Called once per file, after its first bytes are read, with the file path and fingerprint:
  // returns where to start reading, or nullopt to read from the beginning. Honoured only for
  // files framed as JSON objects (JSON lines, concatenated or pretty objects); ignored (read from
  // the start) for a file framed as a JSON array, and when byte_offset is past the end of the file.
  // Not called for an empty file, or when its first bytes cannot be read (corrupt gzip). The
  // point must be a record start from an earlier SourcePosition of the same content: events are
  // then delivered with the same positions as in an uninterrupted read. A byte_offset of 0 reads
  // from the start (not counted as resumed).
  std::function<std::optional<ResumePoint>(std::string_view path, std::string_view fingerprint)>
      resume;
};

// Where an event or an error was found. `file` is valid during the callback.
struct SourcePosition {
  std::string_view file;
  uint64_t line = 0;         // 1-based line where the record starts
  uint64_t byte_offset = 0;  // offset of the record in the (decompressed) file
  // Identifies the file's content: lowercase hex (64 chars) of the SHA-256 of its first up to
  // 4096 decompressed bytes (so a file and its .gz have the same fingerprint, and it does not
  // depend on read_chunk_bytes). Empty when the file is empty or could not be opened. Valid
  // during the callback.
  std::string_view fingerprint;
};

enum class IngestErrorKind : uint8_t {
  kMalformed,  // a record (or EventList item) rejected; reason in status
  kOversize,   // a record over max_record_bytes, skipped unread
  kFile,       // the file as a whole: empty, unreadable, corrupt gzip
};

struct IngestError {
  IngestErrorKind kind;
  SourcePosition position;
  Status status;  // message starts with "<file>:<line>: "
};

struct FileSourceStats {
  uint64_t files = 0;
  uint64_t bytes_read = 0;  // after decompression, framed (bytes skipped by a resume excluded)
  uint64_t records = 0;     // top-level records framed
  uint64_t events = 0;
  uint64_t malformed = 0;    // events/items rejected (an EventList record can count several)
  uint64_t skipped = 0;      // records/items that are not audit events
  uint64_t oversize = 0;     // records skipped for size
  uint64_t file_errors = 0;  // empty, unreadable or corrupt files
  uint64_t dropped_fields = 0;
  uint64_t resumed_files = 0;  // files read from a resume point past their start
  uint64_t bytes_skipped = 0;  // decompressed bytes before those resume points, not framed
};

using FileEventFn = FunctionRef<void(const AuditEvent&, const SourcePosition&)>;
using FileErrorFn = FunctionRef<void(const IngestError&)>;
// A framed record, not decoded yet: `len` bytes at `data`, with `capacity` >= len bytes readable
// there (decoding copies nothing when capacity >= len + SIMDJSON_PADDING). Valid during the call.
using FileRecordFn =
    FunctionRef<void(const char* data, size_t len, size_t capacity, const SourcePosition&)>;

// Not thread-safe. Memory is bounded by read_chunk_bytes plus max_record_bytes (plus, when
// resuming a file, its first line, itself bounded by max_record_bytes).
class FileSource {
 public:
  explicit FileSource(FileSourceOptions options = {});

  // Reads each path in order: a regular file (gzip detected by content, any name), or a
  // directory (its regular files, sorted by name, not recursive, dotfiles skipped). Returns
  // NotFound for a path that does not exist (nothing after it is read). Everything else (bad
  // records, empty files, corrupt gzip) goes to on_error and reading goes on.
  Status ReadPaths(const std::vector<std::string>& paths, FileEventFn on_event,
                   FileErrorFn on_error);
  // One regular file; errors go to on_error. Returns IoError only when it cannot be opened.
  Status ReadFile(const std::string& path, FileEventFn on_event, FileErrorFn on_error);
  // Like ReadPaths, but hands over records undecoded, so that decoding may run on other threads
  // (DecodeRecord decodes one as ReadPaths would). stats() then counts files, bytes, records,
  // oversize records and file errors; the decoding counters are DecodeRecord's.
  Status ReadRecords(const std::vector<std::string>& paths, FileRecordFn on_record,
                     FileErrorFn on_error);

  const FileSourceStats& stats() const { return stats_; }

 private:
  bool Cancelled() const { return options_.cancel && options_.cancel->load(); }
  class Sink;
  struct Handlers {
    const FileEventFn* on_event;    // decode here, or
    const FileRecordFn* on_record;  // hand records over
    FileErrorFn on_error;
  };
  Status ReadAll(const std::vector<std::string>& paths, const Handlers& handlers);
  Status ReadOne(const std::string& path, const Handlers& handlers);

  FileSourceOptions options_;
  EnvelopeDecoder decoder_;
  RecordSplitter splitter_;
  PaddedBuffer chunk_;
  PaddedBuffer head_;        // the file's first bytes
  std::string fingerprint_;  // of the file being read
  FileSourceStats stats_;
};

// Decodes one framed record with `decoder` as FileSource::ReadPaths does: its events go to
// on_event, the decoding counters (events, malformed, skipped, dropped_fields) are added to
// *stats, and a record with malformed items gives one error. Thread-compatible: one decoder per
// thread.
void DecodeRecord(EnvelopeDecoder& decoder, const char* data, size_t len, size_t capacity,
                  const SourcePosition& pos, FileSourceStats* stats, FileEventFn on_event,
                  FileErrorFn on_error);

// Convenience: a FileSource over `paths`; `stats` (optional) receives its counters.
Status ReadPaths(const std::vector<std::string>& paths, const FileSourceOptions& options,
                 FileEventFn on_event, FileErrorFn on_error, FileSourceStats* stats = nullptr);

}  // namespace vigil::ingest
