// RocksDbFindingStore's ingest journal: the "journal" column family, keyed by an 8-byte
// big-endian seq. Concurrent appends are grouped: the first waiting appender writes everyone
// queued behind it in one WriteBatch and one WAL sync (StoreOptions::journal_group_commit).
#include <rocksdb/db.h>
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

Status RocksDbFindingStore::LoadJournalBounds() {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, journal_cf_));
  std::lock_guard<std::mutex> lock(jmu_);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != kSeqBytes) continue;
    const uint64_t seq = DecodeBigEndian64(std::string_view(it->key().data(), kSeqBytes));
    jkept_.emplace_back(seq, it->value().size());
    jbytes_ += it->value().size();
    jnext_seq_ = seq + 1;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read journal");
  jdurable_next_ = jnext_seq_;
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
      s = FromRocks(batch.Put(journal_cf_, JournalKey(p->seq), p->value), "journal append");
      if (!s.ok()) break;
    }
    if (s.ok()) {
      rocksdb::WriteOptions wo;
      wo.sync = opts_.sync_writes;
      s = FromRocks(db_->Write(wo, &batch), "journal append");
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
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), journal_cf_));
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
  RETURN_IF_ERROR(FromRocks(db_->DeleteRange(wo, journal_cf_, JournalKey(0), JournalKey(below)),
                            "trim journal"));
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
