// RocksDbFindingStore: the FindingStore kept in RocksDB, with secondary indexes by time, rule,
// cluster and user so that the API can page through findings newest first.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "vigil/core/clock.h"
#include "vigil/core/dead_letter.h"
#include "vigil/core/finding.h"
#include "vigil/core/finding_store.h"
#include "vigil/core/ingest_journal.h"
#include "vigil/core/outbox.h"
#include "vigil/core/state_store.h"
#include "vigil/core/status.h"
#include "vigil/core/suppression.h"
#include "vigil/store/index_keys.h"

namespace rocksdb {
class ColumnFamilyHandle;
class CompactionFilter;
class DB;
class WriteBatch;
}  // namespace rocksdb

namespace vigil::store {

struct StoreOptions {
  // fsync the WAL before Put returns (invariant 3, durable before acknowledged). Turn off only
  // where losing the last writes on a machine crash is acceptable (tests, benchmarks).
  bool sync_writes = true;
  size_t block_cache_bytes = size_t{64} << 20;   // shared by all column families; also holds
                                                 // the SST index and filter blocks
  size_t write_buffer_bytes = size_t{64} << 20;  // all memtables together (WriteBufferManager)
  int max_open_files = 512;
  // Most index entries one Query looks at before it returns a partial page with a cursor. Bounds
  // the work of a very selective filter over a large store; the client just asks for more.
  size_t max_scan_per_query = 100'000;
  // Dead letters kept at most (>= 1). A Commit that would go over removes the oldest, down to
  // max_dead_letters - max_dead_letters / 128 (so that trimming is not one delete per commit).
  size_t max_dead_letters = kDefaultMaxDeadLetters;
  // Dead letters whose received_us is older than this (wall time) are no longer listed, and a
  // later Commit removes them. Zero or negative: no age limit, only max_dead_letters.
  std::chrono::microseconds dead_letter_ttl = std::chrono::hours(24 * 7);
  // Outbox messages kept at most (>= 1): a Commit that would go over drops the oldest, down to
  // max_outbox - max_outbox / 128, and counts them (OutboxDropped).
  size_t max_outbox = kDefaultMaxOutbox;
  // Journal appends waiting together share one WriteBatch and one WAL sync. Off: one sync per
  // append (for measuring what grouping buys).
  bool journal_group_commit = true;
  // Suppressions kept at most (>= 1); AddSuppression answers ResourceExhausted beyond, once the
  // expired ones are forgotten.
  size_t max_suppressions = 10'000;
  // The wall clock of the dead-letter TTL (and of stamping received_us == 0), of triage times
  // (UpdateTriage) and of suppressions (creation, expiry). Null: the system clock. Detection
  // never reads it.
  ClockPtr clock;
};

class WatermarkTable;

// Column families: "default" (schema_version), "findings" (id -> FindingToJson), the empty-
// valued index CFs "by_time", "by_rule", "by_cluster", "by_user" (layout in index_keys.h and
// store/README.md), and for stateful detection "state" (operator state), "dedup" (events
// already processed) and "meta" (watermarks, source positions), and "deadletters" (records that
// could not be parsed, keyed by MakeDeadLetterKey), and "outbox" (messages owed to Kafka, keyed
// by an 8-byte big-endian sequence number; core/outbox.h), and "suppressions" (id ->
// SuppressionToJson, all of them also kept in memory). The webhook journal (bodies not yet
// covered by a checkpoint, keyed like the outbox; core/ingest_journal.h) is a second RocksDB in
// DIR/journal, with its own WAL and memtables: a synced append never queues behind a
// checkpoint's write (tens of milliseconds for 50k keys), and the journal's churn (100 MB/s
// under load) never forces the state's memtables to flush. The "journal" CF of the main DB is
// where earlier versions kept it; Open moves what it holds to DIR/journal. A finding and its index
// entries are always written in one WriteBatch; so is a whole StateCheckpoint, dead letters and
// their trimming included.
//
// State and dedup values start with their event-time expiry (core/state_store.h); a compaction
// filter drops them once their cluster's watermark (AdvanceWatermark) has passed it.
//
// Thread-safety: all methods may be called from any thread. Puts and Commits are serialized by
// a mutex (they read the previous value to retract its index entries); reads take no lock
// (ListDeadLetters copies the oldest live key under a short one).
class RocksDbFindingStore final : public FindingStore,
                                  public StateStore,
                                  public DeadLetterStore,
                                  public Outbox,
                                  public IngestJournal,
                                  public SuppressionStore {
 public:
  static constexpr int kSchemaVersion = 1;
  static constexpr size_t kMaxLimit = 1000;

  // Opens (creating the directory, the DB and any missing column family) the store at dir.
  // IoError if the DB is locked by another process or store ("open DIR: IO error: ... LOCK ...");
  // FailedPrecondition if it was written by an unknown schema version. Counts the stored dead
  // letters (one pass over their keys, at most about max_dead_letters of them) so that the bound
  // holds across restarts.
  static Result<std::unique_ptr<RocksDbFindingStore>> Open(const std::string& dir,
                                                           const StoreOptions& opts = {});
  ~RocksDbFindingStore() override;  // releases column family handles, then closes the DB

  RocksDbFindingStore(const RocksDbFindingStore&) = delete;
  RocksDbFindingStore& operator=(const RocksDbFindingStore&) = delete;

  // All findings or none. Within one call the last finding with a given id wins. InvalidArgument
  // for a finding with an empty id. Triage and suppressions as FindingStore::Put says (the
  // active suppressions are read from memory, never from RocksDB); Commit's findings likewise.
  Status Put(const std::vector<Finding>& findings) override;
  // NotFound if absent; Corruption if the stored value cannot be decoded.
  Result<Finding> Get(const std::string& id) const override;
  // Newest first_seen first, ties by id ascending. Values that cannot be decoded are skipped and
  // counted (corrupt_values_skipped()); a page may hold fewer than `limit` findings and still
  // have a next_cursor when max_scan_per_query was reached.
  Result<FindingPage> Query(const FindingFilter& filter) const override;
  // Under the commit mutex, like Put and Commit: see FindingStore::UpdateTriage.
  Result<Finding> UpdateTriage(const std::string& id, const TriageUpdate& update) override;

  // SuppressionStore ("suppressions" CF, mirrored in memory). Writes take the commit mutex, so a
  // checkpoint sees a suppression either for all its findings or for none.
  Result<Suppression> AddSuppression(Suppression s) override;
  Result<std::vector<Suppression>> ListSuppressions(bool include_expired) const override;
  Status DeleteSuppression(const std::string& id) override;

  // StateStore.
  Result<std::optional<std::string>> GetState(std::string_view key) const override;
  Result<bool> ContainsEvent(std::string_view dedup_key) const override;
  Result<std::optional<std::string>> GetMeta(std::string_view key) const override;
  Result<std::vector<std::pair<std::string, std::string>>> ScanMeta(
      std::string_view prefix) const override;
  // Findings (with their index entries), state, dedup entries, meta and dead letters in one
  // WriteBatch. The same batch trims the dead letters (one DeleteRange over the oldest keys)
  // when they are over max_dead_letters, or when the oldest is past dead_letter_ttl by more
  // than ttl / 128; the work is proportional to the entries removed, never a full scan.
  Status Commit(const StateCheckpoint& checkpoint) override;
  Status CommitIfMeta(const StateCheckpoint& checkpoint, std::string_view key,
                      const std::optional<std::string>& expected) override;
  void AdvanceWatermark(std::string_view cluster, int64_t watermark_us) override;

  // DeadLetterStore. Newest first; entries past dead_letter_ttl are never listed. Looks at most
  // at max_scan_per_query entries per call. Undecodable values are skipped and counted in
  // corrupt_values_skipped().
  Result<DeadLetterPage> ListDeadLetters(const DeadLetterFilter& filter) const override;
  // Exact number of entries kept; may include entries past the TTL that no Commit removed yet
  // (at most ttl / 128 older than the TTL).
  uint64_t DeadLetterCount() const override { return dl_count_.load(); }

  // Outbox. Reads take no lock; TrimOutbox takes the commit mutex briefly (one point read per
  // seq, so that a seq already gone is never counted twice).
  Result<std::vector<OutboxEntry>> ReadOutbox(uint64_t from, size_t limit,
                                              size_t max_bytes) const override;
  Status TrimOutbox(const std::vector<uint64_t>& seqs) override;
  uint64_t OutboxCount() const override { return ob_count_.load(); }
  uint64_t OutboxDropped() const override { return ob_dropped_.load(); }

  // IngestJournal (DIR/journal). Appends are grouped (journal_group_commit) and never take the
  // commit mutex; entries are visible to ReadJournal only once their group is durable.
  Result<uint64_t> AppendJournal(JournalRecord record) override;
  Result<std::vector<JournalEntry>> ReadJournal(uint64_t from, size_t limit,
                                                size_t max_bytes) const override;
  bool WaitJournal(uint64_t from, std::chrono::milliseconds timeout) const override;
  Status TrimJournal(uint64_t below) override;
  Status ReserveJournal(uint64_t below) override;
  JournalStats journal_stats() const override;

  // Compacts every column family (runs the expiry filters now). For tests and tools.
  Status CompactAll();
  // RocksDB's estimate of live bytes on disk (SST files) over all column families.
  Result<uint64_t> DiskBytes() const;
  // Estimated number of keys in the state / dedup column families.
  Result<uint64_t> StateKeysApprox() const;
  Result<uint64_t> DedupKeysApprox() const;

  // Flushes all memtables to SST files.
  Status Flush();
  // RocksDB's estimate of the number of findings (cheap, may be off after overwrites).
  Result<uint64_t> CountApprox() const;
  // Stored findings (Query) and dead letters (ListDeadLetters) skipped because they could not be
  // decoded, since Open.
  uint64_t corrupt_values_skipped() const { return corrupt_skipped_.load(); }

 private:
  Status CommitLocked(const StateCheckpoint& checkpoint);  // put_mu_ held

  // Index CFs in IndexKind order: by_time, by_rule, by_cluster, by_user.
  static constexpr size_t kNumIndexes = 4;

  RocksDbFindingStore(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> handles,
                      const StoreOptions& opts, std::shared_ptr<WatermarkTable> watermarks,
                      std::vector<std::unique_ptr<rocksdb::CompactionFilter>> filters);
  Status CheckSchemaVersion();
  // Adds the findings and their index entries to *batch, keeping stored triage and applying the
  // active suppressions. Requires put_mu_.
  Status AddFindings(const std::vector<Finding>& findings, rocksdb::WriteBatch* batch);
  // Sets f's status from the suppressions active at now_us, unless an analyst set it. Requires
  // put_mu_.
  void ApplySuppressions(int64_t now_us, Finding* f) const;
  // Reads the "suppressions" CF into memory (Open).
  Status LoadSuppressions();
  // Removes id from the in-memory copy. Requires put_mu_ and sup_mu_.
  void EraseSuppression(const std::string& id);
  Result<std::optional<std::string>> GetFrom(rocksdb::ColumnFamilyHandle* cf, std::string_view key,
                                             std::string_view what) const;

  // What is known about the stored dead letters without reading them. Requires put_mu_ to
  // change; first_key is also read under dl_mu_.
  struct DeadLetterBounds {
    uint64_t count = 0;
    std::string first_key;  // the oldest live key; empty when count == 0
  };
  // Counts the stored dead letters and finds the oldest key and the highest sequence number.
  Status LoadDeadLetterBounds();
  // Adds the dead letters, and the trimming that keeps the bound, to *batch; *next is what the
  // bounds will be once the batch is written. Requires put_mu_.
  Status AddDeadLetters(const std::vector<DeadLetter>& dead_letters, rocksdb::WriteBatch* batch,
                        DeadLetterBounds* next);
  // The outbox's bounds: seqs below first_seq are gone, next_seq is the next one to write.
  struct OutboxBounds {
    uint64_t count = 0;
    uint64_t first_seq = 0;
    uint64_t next_seq = 0;
    uint64_t dropped = 0;  // by this commit
  };
  Status LoadOutboxBounds();
  // Adds the messages, and the dropping that keeps the bound, to *batch; *next is what the
  // bounds will be once it is written (PublishOutboxBounds). Require put_mu_.
  Status AddOutbox(const std::vector<OutboxMessage>& messages, rocksdb::WriteBatch* batch,
                   OutboxBounds* next);
  void PublishOutboxBounds(const OutboxBounds& next);
  // Opens DIR/journal, moves the legacy "journal" CF's entries into it, loads its bounds.
  Status OpenJournal(const std::string& dir);
  struct PendingAppend {
    std::string value;
    uint64_t seq = 0;
    Status status;
    bool done = false;
  };
  int64_t DeadLetterTtlMicros() const { return opts_.dead_letter_ttl.count(); }

  rocksdb::DB* db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // owned; destroyed before db_
  rocksdb::ColumnFamilyHandle* default_cf_;
  rocksdb::ColumnFamilyHandle* findings_cf_;
  rocksdb::ColumnFamilyHandle* index_cf_[kNumIndexes];
  rocksdb::ColumnFamilyHandle* state_cf_;
  rocksdb::ColumnFamilyHandle* dedup_cf_;
  rocksdb::ColumnFamilyHandle* meta_cf_;
  rocksdb::ColumnFamilyHandle* dead_letters_cf_;
  rocksdb::ColumnFamilyHandle* outbox_cf_;
  rocksdb::ColumnFamilyHandle* legacy_journal_cf_;  // emptied by OpenJournal
  rocksdb::ColumnFamilyHandle* suppressions_cf_;
  StoreOptions opts_;  // opts_.clock is never null

  std::shared_ptr<WatermarkTable> watermarks_;
  // Used by RocksDB's compactions until the DB is closed, so declared before db_ is destroyed
  // (the destructor closes the DB first).
  std::vector<std::unique_ptr<rocksdb::CompactionFilter>> filters_;
  std::mutex put_mu_;  // makes Put's read-old-value, write-batch sequence atomic
  mutable std::atomic<uint64_t> corrupt_skipped_{0};
  // Dead-letter bounds: written under put_mu_ (after the batch is written); first key also
  // under dl_mu_, so that ListDeadLetters can read it without taking put_mu_.
  std::atomic<uint64_t> dl_count_{0};
  mutable std::mutex dl_mu_;
  std::string dl_first_key_;  // guarded by dl_mu_ (written under put_mu_ too)
  uint64_t dl_next_seq_ = 0;  // guarded by put_mu_
  // Outbox bounds: written under put_mu_, read without it.
  uint64_t ob_next_seq_ = 0;  // guarded by put_mu_
  std::atomic<uint64_t> ob_first_seq_{0}, ob_count_{0}, ob_dropped_{0};
  // The journal's own DB (OpenJournal); closed before db_.
  std::unique_ptr<rocksdb::DB> journal_db_;
  // Journal: all guarded by jmu_.
  mutable std::mutex jmu_;
  mutable std::condition_variable jcv_;
  std::deque<PendingAppend*> jqueue_;  // waiting appends, in arrival order
  bool jwriting_ = false;              // a leader is writing a group
  uint64_t jnext_seq_ = 0;
  uint64_t jdurable_next_ = 0;  // seqs below are durable (or failed: never written)
  std::deque<std::pair<uint64_t, size_t>> jkept_;  // (seq, value bytes) of kept entries
  uint64_t jbytes_ = 0, jappends_ = 0, jsyncs_ = 0;
  // Every stored suppression, by id. Changed under put_mu_ and sup_mu_ (after its write), so the
  // checkpoint path (which holds put_mu_) reads it without sup_mu_; ListSuppressions takes
  // sup_mu_. sup_by_rule_ points into suppressions_ (std::map nodes are stable).
  mutable std::mutex sup_mu_;
  std::map<std::string, Suppression> suppressions_;
  std::multimap<std::string, const Suppression*, std::less<>> sup_by_rule_;
};

}  // namespace vigil::store
