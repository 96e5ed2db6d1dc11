// RocksDbFindingStore's ingest journal: a RocksDB of its own in DIR/journal (its default column
// family), keyed by an 8-byte big-endian seq. Concurrent appends are grouped: the first waiting
// appender writes everyone queued behind it in one WriteBatch and one WAL sync
// (StoreOptions::journal_group_commit).
//
// Why a second DB and not a column family of the main one: RocksDB has one write queue and one
// WAL per DB. In the main DB a synced append waited behind each checkpoint's write (50k keys,
// 40-270 ms under load): the webhook's p99 was that wait. Here appends only wait for each other.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <memory>

#include "rocksdb_util.h"
#include "vigil/core/checked_token.h"
#include "vigil/store/rocksdb_finding_store.h"

namespace vigil::store {

using internal::FromRocks;

namespace {

constexpr size_t kSeqBytes = 8;
// One group writes at most this much (a bigger record goes alone).
constexpr size_t kMaxGroupBytes = size_t{32} << 20;
// The journal's memtables: at most kJournalMemtables of kJournalMemtableBytes each (64 MiB),
// whatever the load; entries trimmed before their memtable is flushed never reach an SST.
constexpr size_t kJournalMemtableBytes = size_t{16} << 20;
constexpr int kJournalMemtables = 4;

// Not an entry (9 bytes; readers skip keys that are not 8): the seq below which nothing is
// handed out again, written with every trim and by ReserveJournal. Sorts after every entry key,
// so a trim's DeleteRange never covers it. Without it, a journal trimmed empty restarted at 0,
// under the reader's stored position: acknowledged entries that were never read.
const std::string kNextSeqKey = std::string(8, '\xff') + "n";

std::string JournalKey(uint64_t seq) {
  std::string key;
  AppendBigEndian64(seq, &key);
  return key;
}

// [cluster length: 1 byte][cluster][received_us: 8 bytes big-endian][body].
std::string EncodeJournalValue(const JournalRecord& r) {
  std::string out;
  const size_t cluster = std::min<size_t>(r.cluster.size(), 255);
  out.reserve(1 + cluster + 8 + r.body.size());
  out.push_back(static_cast<char>(cluster));
  out.append(r.cluster, 0, cluster);
  AppendBigEndian64(static_cast<uint64_t>(r.received_us), &out);
  out.append(r.body);
  return out;
}

bool DecodeJournalValue(std::string_view v, JournalRecord* r) {
  if (v.empty()) return false;
  const size_t cluster = static_cast<unsigned char>(v[0]);
  if (v.size() < 1 + cluster + 8) return false;
  r->cluster.assign(v.substr(1, cluster));
  r->received_us = static_cast<int64_t>(DecodeBigEndian64(v.substr(1 + cluster, 8)));
  r->body.assign(v.substr(1 + cluster + 8));
  return true;
}

}  // namespace

Status RocksDbFindingStore::OpenJournal(const std::string& dir) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.max_open_files = 64;
  o.keep_log_file_num = 5;
  o.compression = rocksdb::kNoCompression;  // bodies are read once, soon, then deleted
  o.write_buffer_size = kJournalMemtableBytes;
  o.max_write_buffer_number = kJournalMemtables;
  rocksdb::DB* raw = nullptr;
  RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(o, dir + "/journal", &raw), "open journal"));
  journal_db_.reset(raw);
  rocksdb::WriteOptions wo;
  wo.sync = opts_.sync_writes;

  // Entries an earlier version left in the main DB's "journal" CF move here: copied (synced),
  // then deleted there. A crash in between copies them again next time (same keys, same values).
  {
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, legacy_journal_cf_));
    rocksdb::WriteBatch batch;
    size_t moved = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      RETURN_IF_ERROR(FromRocks(batch.Put(it->key(), it->value()), "move journal"));
      ++moved;
      if (batch.GetDataSize() >= kMaxGroupBytes) {
        RETURN_IF_ERROR(FromRocks(journal_db_->Write(wo, &batch), "move journal"));
        batch.Clear();
      }
    }
    if (!it->status().ok()) return FromRocks(it->status(), "read legacy journal");
    if (moved > 0) {
      RETURN_IF_ERROR(FromRocks(journal_db_->Write(wo, &batch), "move journal"));
      RETURN_IF_ERROR(FromRocks(db_->DeleteRange(wo, legacy_journal_cf_, JournalKey(0),
                                                 JournalKey(~uint64_t{0})),
                                "move journal"));
    }
  }

  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(journal_db_->NewIterator(ro));
  std::lock_guard<std::mutex> lock(jmu_);
  uint64_t reserved = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    if (key == kNextSeqKey && it->value().size() == kSeqBytes) {
      reserved = DecodeBigEndian64(std::string_view(it->value().data(), kSeqBytes));
      continue;
    }
    if (key.size() != kSeqBytes) continue;
    const uint64_t seq = DecodeBigEndian64(key);
    jkept_.emplace_back(seq, it->value().size());
    jbytes_ += it->value().size();
    jnext_seq_ = seq + 1;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read journal");
  jnext_seq_ = std::max(jnext_seq_, reserved);
  jdurable_next_ = jnext_seq_;
  return Status::Ok();
}

Status RocksDbFindingStore::ReserveJournal(uint64_t below) {
  std::lock_guard<std::mutex> lock(jmu_);
  if (below <= jnext_seq_) return Status::Ok();
  if (jwriting_ || !jqueue_.empty()) {
    return Status::FailedPrecondition("journal: reserve while appends are in flight");
  }
  std::string value;
  AppendBigEndian64(below, &value);
  rocksdb::WriteOptions wo;
  wo.sync = opts_.sync_writes;
  RETURN_IF_ERROR(FromRocks(journal_db_->Put(wo, kNextSeqKey, value), "reserve journal"));
  jnext_seq_ = jdurable_next_ = below;
  return Status::Ok();
}

Result<uint64_t> RocksDbFindingStore::AppendJournal(JournalRecord record) {
  PendingAppend me;
  me.value = EncodeJournalValue(record);
  std::unique_lock<std::mutex> lock(jmu_);
  jqueue_.push_back(&me);
  while (!me.done) {
    if (jwriting_ || jqueue_.front() != &me) {
      jcv_.wait(lock);
      continue;
    }
    // The leader: writes itself and whoever queued behind it, in one batch and one sync.
    jwriting_ = true;
    std::vector<PendingAppend*> group;
    size_t bytes = 0;
    while (!jqueue_.empty() &&
           (group.empty() || (opts_.journal_group_commit &&
                              bytes + jqueue_.front()->value.size() <= kMaxGroupBytes))) {
      PendingAppend* p = jqueue_.front();
      jqueue_.pop_front();
      p->seq = jnext_seq_++;
      bytes += p->value.size();
      group.push_back(p);
    }
    lock.unlock();
    rocksdb::WriteBatch batch;
    Status s;
    for (PendingAppend* p : group) {
      s = FromRocks(batch.Put(JournalKey(p->seq), p->value), "journal append");
      if (!s.ok()) break;
    }
    if (s.ok()) {
      rocksdb::WriteOptions wo;
      wo.sync = opts_.sync_writes;
      s = FromRocks(journal_db_->Write(wo, &batch), "journal append");
    }
    lock.lock();
    ++jsyncs_;
    for (PendingAppend* p : group) {
      p->status = s;
      p->done = true;
      if (s.ok()) {
        jkept_.emplace_back(p->seq, p->value.size());
        jbytes_ += p->value.size();
        ++jappends_;
      }
    }
    // Seqs of a failed group are never written: readers see a gap, which they skip.
    jdurable_next_ = jnext_seq_;
    jwriting_ = false;
    jcv_.notify_all();
  }
  if (!me.status.ok()) return me.status;
  return me.seq;
}

Result<std::vector<JournalEntry>> RocksDbFindingStore::ReadJournal(uint64_t from, size_t limit,
                                                                   size_t max_bytes) const {
  std::vector<JournalEntry> out;
  if (limit == 0) return out;
  uint64_t durable = 0;
  {
    std::lock_guard<std::mutex> lock(jmu_);
    durable = jdurable_next_;
  }
  std::unique_ptr<rocksdb::Iterator> it(journal_db_->NewIterator(rocksdb::ReadOptions()));
  size_t bytes = 0;
  for (it->Seek(JournalKey(from)); it->Valid(); it->Next()) {
    if (it->key().size() != kSeqBytes) continue;
    if (out.size() == limit || (!out.empty() && bytes >= max_bytes)) break;
    JournalEntry e;
    e.seq = DecodeBigEndian64(std::string_view(it->key().data(), kSeqBytes));
    if (e.seq >= durable) break;  // written by a group still being synced
    if (!DecodeJournalValue(std::string_view(it->value().data(), it->value().size()), &e.record)) {
      corrupt_skipped_.fetch_add(1, std::memory_order_relaxed);
      e.record = {};  // an empty body: the pipeline counts it as malformed
    }
    bytes += it->value().size();
    out.push_back(std::move(e));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read journal");
  return out;
}

bool RocksDbFindingStore::WaitJournal(uint64_t from, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(jmu_);
  return jcv_.wait_for(lock, timeout, [&] {
    return jdurable_next_ > from && !jkept_.empty() && jkept_.back().first >= from;
  });
}

Status RocksDbFindingStore::TrimJournal(uint64_t below) {
  {
    std::lock_guard<std::mutex> lock(jmu_);
    if (jkept_.empty() || jkept_.front().first >= below) return Status::Ok();
  }
  rocksdb::WriteOptions wo;
  wo.sync = false;  // a lost trim only reads the entries again (dedup makes that harmless)
  // With the trim, in the same batch, the record that seqs below `below` are used up: a journal
  // trimmed empty numbers on from there after a restart, not from 0.
  rocksdb::WriteBatch batch;
  std::string next;
  AppendBigEndian64(below, &next);
  RETURN_IF_ERROR(FromRocks(batch.DeleteRange(JournalKey(0), JournalKey(below)), "trim journal"));
  RETURN_IF_ERROR(FromRocks(batch.Put(kNextSeqKey, next), "trim journal"));
  RETURN_IF_ERROR(FromRocks(journal_db_->Write(wo, &batch), "trim journal"));
  std::lock_guard<std::mutex> lock(jmu_);
  while (!jkept_.empty() && jkept_.front().first < below) {
    jbytes_ -= jkept_.front().second;
    jkept_.pop_front();
  }
  return Status::Ok();
}

JournalStats RocksDbFindingStore::journal_stats() const {
  std::lock_guard<std::mutex> lock(jmu_);
  JournalStats s;
  s.entries = jkept_.size();
  s.bytes = jbytes_;
  s.next_seq = jnext_seq_;
  s.appends = jappends_;
  s.syncs = jsyncs_;
  return s;
}

}  // namespace vigil::store
