// RecordSource: where the pipeline's raw records come from (files, Kafka, the webhook journal).
// A source yields batches of undecoded records, each with the cluster of the channel it came
// from (never from its body) and an opaque position; it restores its positions from the store,
// hands the pipeline the positions that cover what was applied for each checkpoint, and learns
// when such a checkpoint is durable (OnDurable), so that it can commit offsets or release
// journal entries only then (invariant 3). One Pipeline (app/) runs any source.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vigil/core/state_store.h"
#include "vigil/core/status.h"
#include "vigil/ingest/envelope.h"
#include "vigil/ingest/padded_buffer.h"

namespace vigil::ingest {

// A stream the records of a batch come from: a file, a Kafka partition, the webhook journal.
// Consecutive records of one stream share one origin.
struct RecordOrigin {
  uint32_t stream = 0;  // the source's own id for the stream (a file's number, a partition's)
  std::string cluster;  // from the authenticated channel (invariant 6)
  std::string name;     // for messages: a file path, "topic[partition]"
  std::string key;      // the source's own (a file's fingerprint, a Kafka topic)
  int32_t partition = -1;  // a Kafka record's partition (-1 for the other sources)
  EnvelopeChoice envelope = EnvelopeChoice::kAuto;  // forced per channel (a Kafka topic)
  bool lines = false;   // positions are read as "name:line" (files), else "name@position"
  uint16_t source = 0;  // which source of a MultiRecordSource made it (set by that one only)
};

// One record of a batch: `len` bytes at `offset` in RecordBatch::bytes, or a record the source
// could not frame (kind != kRecord, with a message, and its first bytes when known).
struct RawRecord {
  enum class Kind : uint8_t {
    kRecord,     // bytes to decode
    kMalformed,  // framed but cut short (e.g. by gzip corruption): counted as malformed
    kOversize,   // over the record limit, skipped unread: counted as malformed
    kNotice,     // about the stream itself (empty or unreadable file): reported, not counted
  };
  uint32_t origin = 0;  // index into RecordBatch::origins
  Kind kind = Kind::kRecord;
  uint64_t position = 0;  // a file record's byte offset, a Kafka offset, a journal sequence
  uint64_t line = 0;      // 1-based line in a file; 0 where lines do not apply
  size_t offset = 0;      // in RecordBatch::bytes (kind kRecord, or the head of another kind)
  size_t len = 0;
  uint64_t size = 0;    // the record's full size (kOversize: its size unread)
  std::string message;  // kind != kRecord: what went wrong, with its position
};

// A batch of records in input order. Reused: clear() keeps the buffers (up to a bound).
class RecordBatch {
 public:
  PaddedBuffer bytes;
  std::vector<RecordOrigin> origins;
  std::vector<RawRecord> records;
  uint64_t source_bytes = 0;  // bytes the source consumed for this batch (framing included)

  // The index of an origin for the next records: the last one when it has the same stream and
  // cluster, else a new one made by `make` (called only then).
  template <typename Make>
  uint32_t OriginFor(uint32_t stream, std::string_view cluster, Make&& make) {
    if (!origins.empty() && origins.back().stream == stream && origins.back().cluster == cluster) {
      return static_cast<uint32_t>(origins.size() - 1);
    }
    RecordOrigin& o = origins.emplace_back();
    o.stream = stream;
    o.cluster.assign(cluster);
    make(o);
    return static_cast<uint32_t>(origins.size() - 1);
  }
  void Add(uint32_t origin, uint64_t position, uint64_t line, const char* data, size_t len);
  // A record the source could not frame or attribute; `head` (its first bytes, if any) is kept
  // in `bytes` for the dead-letter store.
  void AddProblem(uint32_t origin, RawRecord::Kind kind, uint64_t position, uint64_t line,
                  std::string message, uint64_t size = 0, std::string_view head = {});
  bool empty() const { return records.empty(); }
  // Empties it; a buffer grown past 2 * max_bytes (for a big record) is released.
  void clear(size_t max_bytes);
};

// "path:line" for file records, "topic[3]@1234" for the others.
std::string RecordWhere(const RecordOrigin& origin, const RawRecord& record);

// Limits of one Poll: at most this many records and bytes (a bigger record goes alone).
struct BatchLimits {
  size_t max_records = 1024;
  size_t max_bytes = size_t{1} << 20;
};

// The state of some streams was restored into the store (from a state changelog, when Kafka
// partitions moved to this instance). Before applying anything more, the pipeline forgets what
// it has cached of `clusters` and guards the entries the restore took from an incomplete
// checkpoint (StatefulDetector::Guard; findings likewise): their events before `position` are
// in them already.
struct RestoredState {
  std::string stream;                  // "topic[3]", for logs
  std::string topic;                   // the stream (RecordOrigin::key, ::partition)
  int32_t partition = -1;
  std::vector<std::string> clusters;   // whose state the store now holds afresh
  std::vector<std::pair<std::string, uint64_t>> state_guards;    // state key -> position
  std::vector<std::pair<std::string, uint64_t>> finding_guards;  // finding id -> position
};

// Whether a source is where /readyz wants it: assigned its streams and caught up.
struct SourceHealth {
  bool ready = false;
  uint64_t lag = 0;  // records known to be waiting (Kafka: high watermark - position)
  std::string why;   // when not ready: what it waits for
};

class RecordSource {
 public:
  virtual ~RecordSource() = default;

  // "file", "kafka", "webhook": for logs and metrics.
  virtual std::string_view kind() const = 0;
  // The kind of the source that made `origin` (for a combination, the one of its parts; for
  // metrics). Thread-safe.
  virtual std::string_view KindOf(const RecordOrigin& origin) const {
    (void)origin;
    return kind();
  }

  // Before the first Poll: where to resume, from the store's meta entries (null: from the start
  // of every stream, positions are not kept).
  virtual Status Restore(const StateStore* store) = 0;

  enum class PollResult : uint8_t {
    kRecords,  // *batch holds records
    kIdle,     // nothing arrived within `wait` (a live source); poll again
    kBarrier,  // *batch may hold records; before the next Poll, apply everything polled, make a
               // durable checkpoint and pass it to OnDurable (a Kafka rebalance revokes
               // partitions, whose offsets must be committed before they are released)
    kEnd,      // nothing more will come (a finite source is done, or Stop() was called)
    kRestored,  // *batch may hold records; apply everything polled, make a durable checkpoint,
                // then take TakeRestored() before the next Poll
  };
  // Appends records to *batch (empty on entry), waiting at most `wait` for the first. An error
  // is fatal for this source (the pipeline stops and reports it).
  virtual Result<PollResult> Poll(RecordBatch* batch, const BatchLimits& limits,
                                  std::chrono::milliseconds wait) = 0;

  // After a kRestored poll: what was restored (the default: nothing).
  virtual std::vector<RestoredState> TakeRestored() { return {}; }

  // The pipeline has applied every event of `record` (in input order, batch by batch).
  virtual void Applied(const RecordOrigin& origin, const RawRecord& record) = 0;

  // Adds to *meta the positions that cover every record Applied so far (those that changed since
  // the last call), to be written in the next checkpoint. Returns a token for OnDurable.
  virtual uint64_t TakePositions(std::vector<std::pair<std::string, std::string>>* meta) = 0;

  // The checkpoint that carried TakePositions' `token` (and every one before it) is durable.
  virtual void OnDurable(uint64_t token) = 0;

  // Backpressure: stop taking in new records until Resume (a live source keeps its session
  // alive meanwhile). Thread-safe. The default does nothing (a file waits for Poll anyway).
  virtual void Pause() {}
  virtual void Resume() {}

  // Stops intake: Poll returns kEnd soon (records already polled are still applied and
  // checkpointed). Thread-safe.
  virtual void Stop() = 0;

  // Thread-safe.
  virtual SourceHealth Health() const = 0;

  // Prometheus text of the source's own metrics (lines with its labels), or nothing.
  // Thread-safe.
  virtual void RenderMetrics(std::string* out) const { (void)out; }
};

}  // namespace vigil::ingest
