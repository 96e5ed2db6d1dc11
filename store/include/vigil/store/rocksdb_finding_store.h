// RocksDbFindingStore: the FindingStore kept in RocksDB, with secondary indexes by time, rule,
// cluster and user so that the API can page through findings newest first.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "vigil/core/finding.h"
#include "vigil/core/finding_store.h"
#include "vigil/core/status.h"
#include "vigil/store/index_keys.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
}  // namespace rocksdb

namespace vigil::store {

struct StoreOptions {
  // fsync the WAL before Put returns (invariant 3, durable before acknowledged). Turn off only
  // where losing the last writes on a machine crash is acceptable (tests, benchmarks).
  bool sync_writes = true;
  size_t block_cache_bytes = size_t{64} << 20;  // shared by all column families
  int max_open_files = 512;
  // Most index entries one Query looks at before it returns a partial page with a cursor. Bounds
  // the work of a very selective filter over a large store; the client just asks for more.
  size_t max_scan_per_query = 100'000;
};

// Column families: "default" (schema_version), "findings" (id -> FindingToJson), and the empty-
// valued index CFs "by_time", "by_rule", "by_cluster", "by_user" (layout in index_keys.h and
// store/README.md). A finding and its index entries are always written in one WriteBatch.
//
// Thread-safety: all methods may be called from any thread. Puts are serialized by a mutex (they
// read the previous value to retract its index entries); Get and Query take no lock.
class RocksDbFindingStore final : public FindingStore {
 public:
  static constexpr int kSchemaVersion = 1;
  static constexpr size_t kMaxLimit = 1000;

  // Opens (creating the directory, the DB and any missing column family) the store at dir.
  // IoError if the DB is locked by another process or store ("open DIR: IO error: ... LOCK ...");
  // FailedPrecondition if it was written by an unknown schema version.
  static Result<std::unique_ptr<RocksDbFindingStore>> Open(const std::string& dir,
                                                           const StoreOptions& opts = {});
  ~RocksDbFindingStore() override;  // releases column family handles, then closes the DB

  RocksDbFindingStore(const RocksDbFindingStore&) = delete;
  RocksDbFindingStore& operator=(const RocksDbFindingStore&) = delete;

  // All findings or none. Within one call the last finding with a given id wins. InvalidArgument
  // for a finding with an empty id.
  Status Put(const std::vector<Finding>& findings) override;
  // NotFound if absent; Corruption if the stored value cannot be decoded.
  Result<Finding> Get(const std::string& id) const override;
  // Newest first_seen first, ties by id ascending. Values that cannot be decoded are skipped and
  // counted (corrupt_values_skipped()); a page may hold fewer than `limit` findings and still
  // have a next_cursor when max_scan_per_query was reached.
  Result<FindingPage> Query(const FindingFilter& filter) const override;

  // Flushes all memtables to SST files.
  Status Flush();
  // RocksDB's estimate of the number of findings (cheap, may be off after overwrites).
  Result<uint64_t> CountApprox() const;
  // Stored findings Query skipped because they could not be decoded, since Open.
  uint64_t corrupt_values_skipped() const { return corrupt_skipped_.load(); }

 private:
  // Index CFs in IndexKind order: by_time, by_rule, by_cluster, by_user.
  static constexpr size_t kNumIndexes = 4;

  RocksDbFindingStore(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> handles,
                      const StoreOptions& opts);
  Status CheckSchemaVersion();

  rocksdb::DB* db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // owned; destroyed before db_
  rocksdb::ColumnFamilyHandle* default_cf_;
  rocksdb::ColumnFamilyHandle* findings_cf_;
  rocksdb::ColumnFamilyHandle* index_cf_[kNumIndexes];
  StoreOptions opts_;
  std::mutex put_mu_;  // makes Put's read-old-value, write-batch sequence atomic
  mutable std::atomic<uint64_t> corrupt_skipped_{0};
};

}  // namespace vigil::store
