// RocksDbFindingStore: findings and their indexes in RocksDB column families.
#include "vigil/store/rocksdb_finding_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "rocksdb_util.h"

namespace vigil::store {

using internal::FromRocks;
using internal::SnapshotGuard;

// Per-cluster watermarks shared with the compaction filters (which run on RocksDB's threads).
class WatermarkTable {
 public:
  void Advance(std::string_view cluster, int64_t wm) {
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, inserted] = map_.try_emplace(std::string(cluster), wm);
    if (!inserted) it->second = std::max(it->second, wm);
  }
  // The watermark of `cluster`; the lowest possible when unknown (nothing is dropped).
  int64_t Get(std::string_view cluster) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(cluster);
    return it == map_.end() ? std::numeric_limits<int64_t>::min() : it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, int64_t, std::less<>> map_;
};

namespace {

constexpr char kFindingsCf[] = "findings";
constexpr const char* kStateCfNames[] = {"state", "dedup", "meta"};
constexpr const char* kIndexCfNames[] = {"by_time", "by_rule", "by_cluster", "by_user"};
constexpr char kDeadLettersCf[] = "deadletters";
constexpr char kOutboxCf[] = "outbox";
constexpr char kJournalCf[] = "journal";
constexpr char kSuppressionsCf[] = "suppressions";
constexpr char kSchemaKey[] = "schema_version";

rocksdb::CompressionType PickCompression() {
  const auto supported = rocksdb::GetSupportedCompressions();
  for (auto preferred : {rocksdb::kLZ4Compression, rocksdb::kZSTD, rocksdb::kSnappyCompression}) {
    if (std::find(supported.begin(), supported.end(), preferred) != supported.end()) {
      return preferred;
    }
  }
  return rocksdb::kNoCompression;
}

// The value each index is keyed by, in IndexKind order; kTime has none.
std::string_view IndexedValue(const Finding& f, size_t index) {
  switch (static_cast<IndexKind>(index)) {
    case IndexKind::kTime:
      return {};
    case IndexKind::kRule:
      return f.rule_id;
    case IndexKind::kCluster:
      return f.cluster;
    case IndexKind::kUser:
      return f.user;
  }
  return {};
}

std::array<std::string, 4> IndexKeysFor(const Finding& f) {
  std::array<std::string, 4> keys;
  for (size_t i = 0; i < keys.size(); ++i) {
    keys[i] = MakeIndexKey(IndexPrefix(static_cast<IndexKind>(i), IndexedValue(f, i)),
                           f.first_seen_us, f.id);
  }
  return keys;
}

// Stored triage wins over the new value's (FindingStore::Put): the pipeline writes what it read
// before an analyst's PATCH may have landed, and must not undo it.
void KeepStoredTriage(const Finding& stored, Finding* f) {
  if (!stored.status_by.empty()) {
    f->status = stored.status;
    f->status_by = stored.status_by;
    f->status_at_us = stored.status_at_us;
    f->suppressed_by = stored.suppressed_by;
  }
  if (!stored.note_by.empty()) {
    f->note = stored.note;
    f->note_by = stored.note_by;
    f->note_at_us = stored.note_at_us;
  }
}

// Drops state/dedup entries whose expiry header is below their cluster's watermark.
class ExpiryFilter final : public rocksdb::CompactionFilter {
 public:
  ExpiryFilter(std::shared_ptr<WatermarkTable> table, int cluster_field, const char* name)
      : table_(std::move(table)), cluster_field_(cluster_field), name_(name) {}
  bool Filter(int, const rocksdb::Slice& key, const rocksdb::Slice& value, std::string*,
              bool*) const override {
    std::string_view k(key.data(), key.size());
    for (int i = 0; i < cluster_field_; ++i) {
      size_t sep = k.find(kKeySep);
      if (sep == std::string_view::npos) return false;
      k.remove_prefix(sep + 1);
    }
    std::string_view cluster = k.substr(0, k.find(kKeySep));
    const int64_t expiry = GetExpiry(std::string_view(value.data(), value.size()));
    return expiry != 0 && expiry < table_->Get(cluster);
  }
  const char* Name() const override { return name_; }

 private:
  std::shared_ptr<WatermarkTable> table_;
  int cluster_field_;
  const char* name_;
};

}  // namespace

Result<std::unique_ptr<RocksDbFindingStore>> RocksDbFindingStore::Open(const std::string& dir,
                                                                       const StoreOptions& opts) {
  if (dir.empty()) return Status::InvalidArgument("open: empty store directory");
  if (opts.max_scan_per_query == 0) {
    return Status::InvalidArgument("open " + dir + ": max_scan_per_query must be > 0");
  }
  if (opts.max_dead_letters == 0) {
    return Status::InvalidArgument("open " + dir + ": max_dead_letters must be > 0");
  }
  if (opts.max_outbox == 0) {
    return Status::InvalidArgument("open " + dir + ": max_outbox must be > 0");
  }
  if (opts.max_suppressions == 0) {
    return Status::InvalidArgument("open " + dir + ": max_suppressions must be > 0");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IoError("open " + dir + ": cannot create directory: " + ec.message());

  rocksdb::DBOptions db_opts;
  db_opts.create_if_missing = true;
  db_opts.create_missing_column_families = true;
  db_opts.max_open_files = opts.max_open_files;
  db_opts.keep_log_file_num = 5;

  // Memory stays bounded whatever the number of keys: memtables share one budget, and index and
  // filter blocks (which grow with the keys) live in the block cache instead of beside it.
  auto cache = rocksdb::NewLRUCache(opts.block_cache_bytes);
  db_opts.write_buffer_manager =
      std::make_shared<rocksdb::WriteBufferManager>(opts.write_buffer_bytes);
  rocksdb::ColumnFamilyOptions index_opts;
  index_opts.compression = PickCompression();
  index_opts.write_buffer_size = std::max<size_t>(opts.write_buffer_bytes / 8, size_t{1} << 20);
  rocksdb::BlockBasedTableOptions index_table;
  index_table.block_cache = cache;
  index_table.cache_index_and_filter_blocks = true;
  index_table.pin_l0_filter_and_index_blocks_in_cache = true;
  index_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(index_table));

  // Findings are read by point lookup (Get, and once per index entry in Query): bloom filter.
  rocksdb::ColumnFamilyOptions findings_opts = index_opts;
  rocksdb::BlockBasedTableOptions findings_table = index_table;
  findings_table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  findings_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(findings_table));

  // State and dedup are read by point lookup, mostly for keys that are absent (every new
  // event's dedup key): bloom filters, also on the memtable. Their filters expire entries.
  auto watermarks = std::make_shared<WatermarkTable>();
  std::vector<std::unique_ptr<rocksdb::CompactionFilter>> filters;
  filters.push_back(std::make_unique<ExpiryFilter>(watermarks, 1, "vigil.state_expiry"));
  filters.push_back(std::make_unique<ExpiryFilter>(watermarks, 0, "vigil.dedup_expiry"));
  rocksdb::ColumnFamilyOptions state_opts = findings_opts;
  state_opts.memtable_prefix_bloom_size_ratio = 0.05;
  state_opts.memtable_whole_key_filtering = true;  // absent keys answered without a skiplist walk
  // State is re-read whenever the detector's cache misses: decompressing its blocks was a third
  // of the CPU of a 100k-identity run (bench/state_scale). Only the bottom level, where cold
  // state settles, is compressed.
  state_opts.compression = rocksdb::kNoCompression;
  state_opts.bottommost_compression = PickCompression();
  state_opts.compaction_filter = filters[0].get();
  rocksdb::ColumnFamilyOptions dedup_opts = state_opts;
  dedup_opts.compaction_filter = filters[1].get();

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  cfs.emplace_back(rocksdb::kDefaultColumnFamilyName, index_opts);
  cfs.emplace_back(kFindingsCf, findings_opts);
  for (const char* name : kIndexCfNames) cfs.emplace_back(name, index_opts);
  cfs.emplace_back(kStateCfNames[0], state_opts);
  cfs.emplace_back(kStateCfNames[1], dedup_opts);
  cfs.emplace_back(kStateCfNames[2], index_opts);
  // Dead letters: written in checkpoints, read in time order by the API; no point lookups.
  // A DB made before this CF existed gets it here (create_missing_column_families).
  cfs.emplace_back(kDeadLettersCf, index_opts);
  // The outbox: appended in checkpoints, read in order by the relay, removed as delivered.
  cfs.emplace_back(kOutboxCf, index_opts);
  // Where earlier versions kept the webhook journal (now DIR/journal); emptied at Open.
  cfs.emplace_back(kJournalCf, index_opts);
  // Suppressions: few, small, read once at Open into memory.
  cfs.emplace_back(kSuppressionsCf, index_opts);

  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s = rocksdb::DB::Open(db_opts, dir, cfs, &handles, &db);
  if (!s.ok()) return FromRocks(s, "open " + dir);

  std::unique_ptr<RocksDbFindingStore> store(new RocksDbFindingStore(
      db, std::move(handles), opts, std::move(watermarks), std::move(filters)));
  RETURN_IF_ERROR(store->CheckSchemaVersion().WithContext("open " + dir));
  RETURN_IF_ERROR(store->LoadDeadLetterBounds().WithContext("open " + dir));
  RETURN_IF_ERROR(store->LoadOutboxBounds().WithContext("open " + dir));
  RETURN_IF_ERROR(store->OpenJournal(dir).WithContext("open " + dir));
  RETURN_IF_ERROR(store->LoadSuppressions().WithContext("open " + dir));
  return store;
}

RocksDbFindingStore::RocksDbFindingStore(
    rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> handles, const StoreOptions& opts,
    std::shared_ptr<WatermarkTable> watermarks,
    std::vector<std::unique_ptr<rocksdb::CompactionFilter>> filters)
    : db_(db),
      handles_(std::move(handles)),
      opts_(opts),
      watermarks_(std::move(watermarks)),
      filters_(std::move(filters)) {
  // Handles come back in the order of the descriptors passed to DB::Open.
  default_cf_ = handles_[0];
  findings_cf_ = handles_[1];
  for (size_t i = 0; i < kNumIndexes; ++i) index_cf_[i] = handles_[2 + i];
  state_cf_ = handles_[2 + kNumIndexes];
  dedup_cf_ = handles_[3 + kNumIndexes];
  meta_cf_ = handles_[4 + kNumIndexes];
  dead_letters_cf_ = handles_[5 + kNumIndexes];
  outbox_cf_ = handles_[6 + kNumIndexes];
  legacy_journal_cf_ = handles_[7 + kNumIndexes];
  suppressions_cf_ = handles_[8 + kNumIndexes];
  if (!opts_.clock) opts_.clock = SystemClock::Default();
}

RocksDbFindingStore::~RocksDbFindingStore() {
  if (journal_db_ != nullptr) journal_db_->Close().PermitUncheckedError();
  journal_db_.reset();
  for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  db_->Close().PermitUncheckedError();
  delete db_;
}

Status RocksDbFindingStore::CheckSchemaVersion() {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), default_cf_, kSchemaKey, &value);
  if (s.IsNotFound()) {
    rocksdb::WriteOptions wo;
    wo.sync = opts_.sync_writes;
    return FromRocks(db_->Put(wo, default_cf_, kSchemaKey, std::to_string(kSchemaVersion)),
                     "write schema version");
  }
  if (!s.ok()) return FromRocks(s, "read schema version");
  if (value != std::to_string(kSchemaVersion)) {
    return Status::FailedPrecondition("store schema version '" + value +
                                      "' is not supported by this build (supports " +
                                      std::to_string(kSchemaVersion) + ")");
  }
  return Status::Ok();
}

Status RocksDbFindingStore::Put(const std::vector<Finding>& findings) {
  if (findings.empty()) return Status::Ok();
  std::lock_guard<std::mutex> lock(put_mu_);
  rocksdb::WriteBatch batch;
  RETURN_IF_ERROR(AddFindings(findings, &batch));
  rocksdb::WriteOptions wo;
  wo.sync = opts_.sync_writes;
  return FromRocks(db_->Write(wo, &batch), "put");
}

Status RocksDbFindingStore::AddFindings(const std::vector<Finding>& findings,
                                        rocksdb::WriteBatch* batch) {
  std::unordered_map<std::string_view, size_t> last_of_id;
  for (size_t i = 0; i < findings.size(); ++i) {
    if (findings[i].id.empty()) {
      return Status::InvalidArgument("put: finding with empty id (rule " + findings[i].rule_id +
                                     ")");
    }
    last_of_id[findings[i].id] = i;
  }
  std::string old_value;
  const int64_t now_us = opts_.clock->NowMicros();
  for (size_t i = 0; i < findings.size(); ++i) {
    if (last_of_id[findings[i].id] != i) continue;  // a later finding in this batch replaces it
    Finding f = findings[i];
    const auto new_keys = IndexKeysFor(f);
    std::array<bool, kNumIndexes> already_indexed{};
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), findings_cf_, f.id, &old_value);
    if (s.ok()) {
      // Retract the old value's index entries that the new value does not have; keep (and do not
      // rewrite) the ones it shares, which is every one for the common count/last_seen update.
      // If the old value is undecodable its entries cannot be derived; Query verifies every
      // index entry against the value it points to, so such leftovers are never served.
      auto old = FindingFromJson(old_value);
      if (old.ok()) {
        KeepStoredTriage(*old, &f);
        const auto old_keys = IndexKeysFor(*old);
        for (size_t k = 0; k < kNumIndexes; ++k) {
          if (old_keys[k] == new_keys[k]) {
            already_indexed[k] = true;
          } else {
            RETURN_IF_ERROR(FromRocks(batch->Delete(index_cf_[k], old_keys[k]), "put"));
          }
        }
      }
    } else if (!s.IsNotFound()) {
      return FromRocks(s, "put: read previous value of " + f.id);
    }
    ApplySuppressions(now_us, &f);
    RETURN_IF_ERROR(FromRocks(batch->Put(findings_cf_, f.id, FindingToJson(f)), "put"));
    for (size_t k = 0; k < kNumIndexes; ++k) {
      if (already_indexed[k]) continue;
      RETURN_IF_ERROR(FromRocks(batch->Put(index_cf_[k], new_keys[k], rocksdb::Slice()), "put"));
    }
  }
  return Status::Ok();
}

void RocksDbFindingStore::ApplySuppressions(int64_t now_us, Finding* f) const {
  if (!f->status_by.empty()) return;  // an analyst's status wins
  // The active match with the smallest id, so that the choice does not depend on map order.
  const Suppression* match = nullptr;
  auto [begin, end] = sup_by_rule_.equal_range(f->rule_id);
  for (auto it = begin; it != end; ++it) {
    const Suppression* sup = it->second;
    if (!sup->ActiveAt(now_us) || !sup->Matches(*f)) continue;
    if (match == nullptr || sup->id < match->id) match = sup;
  }
  if (match != nullptr) {
    f->status = FindingStatus::kSuppressed;
    f->suppressed_by = match->id;
  } else if (!f->suppressed_by.empty()) {
    // The suppression that marked it expired or was deleted: open again.
    f->status = FindingStatus::kOpen;
    f->suppressed_by.clear();
  }
}

// The read-modify-write runs under put_mu_, the mutex of Put and Commit, instead of as a RocksDB
// merge operator or transaction: every write of a finding value already holds it (to retract
// index entries), so holding it here makes PATCH atomic with respect to the pipeline at no new
// cost. PATCH reads the latest value under the lock (it cannot lose a checkpoint's count or
// evidence) and the checkpoint's AddFindings keeps the stored triage under the same lock (it
// cannot undo PATCH, even when the pipeline merged from a value read before the PATCH).
Result<Finding> RocksDbFindingStore::UpdateTriage(const std::string& id,
                                                  const TriageUpdate& update) {
  if (!update.status && !update.note) {
    return Status::InvalidArgument("triage: nothing to update (give status or note)");
  }
  if (update.by.empty()) return Status::InvalidArgument("triage: empty 'by'");
  if (update.note && update.note->size() > Finding::kMaxNoteBytes) {
    return Status::InvalidArgument("triage: note longer than " +
                                   std::to_string(Finding::kMaxNoteBytes) + " bytes");
  }
  std::lock_guard<std::mutex> lock(put_mu_);
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), findings_cf_, id, &value);
  if (s.IsNotFound()) return Status::NotFound("finding " + id + " not found");
  if (!s.ok()) return FromRocks(s, "triage " + id);
  auto f = FindingFromJson(value);
  if (!f.ok()) {
    return Status::Corruption("stored finding " + id +
                              " cannot be decoded: " + f.status().message());
  }
  const int64_t now_us = opts_.clock->NowMicros();
  if (update.status) {
    f->status = *update.status;
    f->status_by = update.by;
    f->status_at_us = now_us;
    f->suppressed_by.clear();
  }
  if (update.note) {
    f->note = *update.note;
    f->note_by = update.by;
    f->note_at_us = now_us;
  }
  // Triage changes no indexed field (first_seen, rule, cluster, user): only the value is written.
  rocksdb::WriteOptions wo;
  wo.sync = opts_.sync_writes;
  RETURN_IF_ERROR(FromRocks(db_->Put(wo, findings_cf_, id, FindingToJson(*f)), "triage " + id));
  return f;
}

Result<Finding> RocksDbFindingStore::Get(const std::string& id) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), findings_cf_, id, &value);
  if (s.IsNotFound()) return Status::NotFound("finding " + id + " not found");
  if (!s.ok()) return FromRocks(s, "get " + id);
  auto f = FindingFromJson(value);
  if (!f.ok()) {
    return Status::Corruption("stored finding " + id +
                              " cannot be decoded: " + f.status().message());
  }
  return f;
}

Result<FindingPage> RocksDbFindingStore::Query(const FindingFilter& filter) const {
  if (filter.limit < 1 || filter.limit > kMaxLimit) {
    return Status::InvalidArgument("limit must be 1.." + std::to_string(kMaxLimit) + ", got " +
                                   std::to_string(filter.limit));
  }
  // The most selective index the filter allows.
  IndexKind kind = IndexKind::kTime;
  std::string_view value;
  if (filter.rule_id) {
    kind = IndexKind::kRule;
    value = *filter.rule_id;
  } else if (filter.user) {
    kind = IndexKind::kUser;
    value = *filter.user;
  } else if (filter.cluster) {
    kind = IndexKind::kCluster;
    value = *filter.cluster;
  }
  const std::string prefix = IndexPrefix(kind, value);

  // Validate the cursor before anything else so that a bad one is always reported.
  std::string resume_after;
  if (!filter.cursor.empty()) {
    auto cursor = DecodeCursor(filter.cursor);
    if (!cursor || cursor->kind != kind || !ParseIndexKey(cursor->key, prefix)) {
      return Status::InvalidArgument("invalid cursor");
    }
    resume_after = std::move(cursor->key);
  }

  FindingPage page;
  // first_seen < until  <=>  first_seen <= until - 1: the newest admissible key comes first.
  std::string start = prefix;
  if (filter.until_us) {
    if (*filter.until_us == std::numeric_limits<int64_t>::min()) return page;
    AppendInvertedTime(*filter.until_us - 1, &start);
  }
  if (filter.since_us && filter.until_us && *filter.since_us >= *filter.until_us) return page;
  bool skip_resume_key = false;
  if (!resume_after.empty() && std::string_view(resume_after) >= std::string_view(start)) {
    start = resume_after;
    skip_resume_key = true;
  }

  SnapshotGuard snapshot(db_);
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.get();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, index_cf_[static_cast<size_t>(kind)]));

  size_t scanned = 0;
  bool more = false;
  std::string last_key;  // last entry looked at: where the next page resumes
  std::string value_bytes;
  for (it->Seek(start); it->Valid(); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    if (!key.starts_with(prefix)) break;
    if (skip_resume_key) {
      skip_resume_key = false;
      if (key == resume_after) continue;
    }
    auto parsed = ParseIndexKey(key, prefix);
    if (!parsed) continue;  // cannot be written by Put; never resumable, so not a cursor
    if (filter.since_us && parsed->first_seen_us < *filter.since_us) break;
    if (page.findings.size() == filter.limit || scanned == opts_.max_scan_per_query) {
      more = true;
      break;
    }
    ++scanned;
    last_key.assign(key);

    rocksdb::Status s = db_->Get(
        ro, findings_cf_, rocksdb::Slice(parsed->id.data(), parsed->id.size()), &value_bytes);
    if (s.IsNotFound()) continue;  // dangling entry; cannot be written by Put
    if (!s.ok()) return FromRocks(s, "query: read finding");
    auto f = FindingFromJson(value_bytes);
    if (!f.ok()) {
      corrupt_skipped_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    // Serve an entry only if it is the current index entry of the value it points to.
    if (f->id != parsed->id || f->first_seen_us != parsed->first_seen_us ||
        IndexedValue(*f, static_cast<size_t>(kind)) != value) {
      continue;
    }
    if (!FindingMatches(*f, filter)) continue;
    page.findings.push_back(std::move(f).value());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "query: scan index");
  if (more) page.next_cursor = EncodeCursor(Cursor{kind, std::move(last_key)});
  return page;
}

Status RocksDbFindingStore::Flush() {
  return FromRocks(db_->Flush(rocksdb::FlushOptions(), handles_), "flush");
}

Result<uint64_t> RocksDbFindingStore::CountApprox() const {
  uint64_t n = 0;
  if (!db_->GetIntProperty(findings_cf_, "rocksdb.estimate-num-keys", &n)) {
    return Status::Internal("count: rocksdb.estimate-num-keys unavailable");
  }
  return n;
}

// ---- StateStore ------------------------------------------------------------------------------

Result<std::optional<std::string>> RocksDbFindingStore::GetFrom(rocksdb::ColumnFamilyHandle* cf,
                                                                std::string_view key,
                                                                std::string_view what) const {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf, rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "read " + std::string(what));
  return std::optional<std::string>(std::move(value));
}

Result<std::optional<std::string>> RocksDbFindingStore::GetState(std::string_view key) const {
  return GetFrom(state_cf_, key, "state");
}

Result<bool> RocksDbFindingStore::ContainsEvent(std::string_view dedup_key) const {
  rocksdb::PinnableSlice value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), dedup_cf_,
                               rocksdb::Slice(dedup_key.data(), dedup_key.size()), &value);
  if (s.IsNotFound()) return false;
  if (!s.ok()) return FromRocks(s, "read dedup set");
  return true;
}

Result<std::optional<std::string>> RocksDbFindingStore::GetMeta(std::string_view key) const {
  return GetFrom(meta_cf_, key, "meta");
}

Result<std::vector<std::pair<std::string, std::string>>> RocksDbFindingStore::ScanMeta(
    std::string_view prefix) const {
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_cf_));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
    std::string_view k(it->key().data(), it->key().size());
    if (!k.starts_with(prefix)) break;
    out.emplace_back(std::string(k), it->value().ToString());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scan meta");
  return out;
}

Status RocksDbFindingStore::Commit(const StateCheckpoint& cp) {
  if (cp.empty()) return Status::Ok();
  std::lock_guard<std::mutex> lock(put_mu_);
  return CommitLocked(cp);
}

Status RocksDbFindingStore::CommitIfMeta(const StateCheckpoint& cp, std::string_view key,
                                         const std::optional<std::string>& expected) {
  std::lock_guard<std::mutex> lock(put_mu_);  // every write holds it: the value stays
  ASSIGN_OR_RETURN(std::optional<std::string> now, GetMeta(key));
  if (now != expected) return Status::FailedPrecondition("meta " + std::string(key) + " changed");
  if (cp.empty()) return Status::Ok();
  return CommitLocked(cp);
}

Status RocksDbFindingStore::CommitLocked(const StateCheckpoint& cp) {
  rocksdb::WriteBatch batch;
  RETURN_IF_ERROR(AddFindings(cp.findings, &batch).WithContext("checkpoint"));
  // Keys in sorted order let RocksDB insert into its memtable skiplist along one splice instead
  // of searching from the top for every key (a checkpoint's main cost in the profile). Sorted
  // here, on the committing thread, not by the detector that fills the checkpoint.
  using Entry = std::pair<std::string, std::string>;
  std::vector<const Entry*> order;
  auto put_sorted = [&](const std::vector<Entry>& entries, rocksdb::ColumnFamilyHandle* cf) {
    order.clear();
    for (const Entry& e : entries) order.push_back(&e);
    std::sort(order.begin(), order.end(),
              [](const Entry* a, const Entry* b) { return a->first < b->first; });
    for (const Entry* e : order) {
      RETURN_IF_ERROR(FromRocks(batch.Put(cf, e->first, e->second), "checkpoint"));
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(put_sorted(cp.state, state_cf_));
  for (const auto& k : cp.state_deletes) {
    RETURN_IF_ERROR(FromRocks(batch.Delete(state_cf_, k), "checkpoint"));
  }
  RETURN_IF_ERROR(put_sorted(cp.dedup, dedup_cf_));
  for (const auto& k : cp.dedup_deletes) {
    RETURN_IF_ERROR(FromRocks(batch.Delete(dedup_cf_, k), "checkpoint"));
  }
  for (const auto& [k, v] : cp.meta) {
    RETURN_IF_ERROR(FromRocks(batch.Put(meta_cf_, k, v), "checkpoint"));
  }
  DeadLetterBounds next;
  RETURN_IF_ERROR(AddDeadLetters(cp.dead_letters, &batch, &next).WithContext("checkpoint"));
  OutboxBounds next_outbox;
  RETURN_IF_ERROR(AddOutbox(cp.outbox, &batch, &next_outbox).WithContext("checkpoint"));
  rocksdb::WriteOptions wo;
  wo.sync = opts_.sync_writes;
  RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "checkpoint"));
  PublishOutboxBounds(next_outbox);
  dl_count_.store(next.count);
  std::lock_guard<std::mutex> dl_lock(dl_mu_);
  dl_first_key_ = std::move(next.first_key);
  return Status::Ok();
}

void RocksDbFindingStore::AdvanceWatermark(std::string_view cluster, int64_t watermark_us) {
  watermarks_->Advance(cluster, watermark_us);
}

Status RocksDbFindingStore::CompactAll() {
  for (auto* h : handles_) {
    RETURN_IF_ERROR(FromRocks(
        db_->CompactRange(rocksdb::CompactRangeOptions(), h, nullptr, nullptr), "compact"));
  }
  return Status::Ok();
}

Result<uint64_t> RocksDbFindingStore::DiskBytes() const {
  uint64_t total = 0;
  for (auto* h : handles_) {
    uint64_t n = 0;
    if (db_->GetIntProperty(h, "rocksdb.live-sst-files-size", &n)) total += n;
  }
  return total;
}

Result<uint64_t> RocksDbFindingStore::StateKeysApprox() const {
  uint64_t n = 0;
  if (!db_->GetIntProperty(state_cf_, "rocksdb.estimate-num-keys", &n)) {
    return Status::Internal("rocksdb.estimate-num-keys unavailable");
  }
  return n;
}

Result<uint64_t> RocksDbFindingStore::DedupKeysApprox() const {
  uint64_t n = 0;
  if (!db_->GetIntProperty(dedup_cf_, "rocksdb.estimate-num-keys", &n)) {
    return Status::Internal("rocksdb.estimate-num-keys unavailable");
  }
  return n;
}

}  // namespace vigil::store
