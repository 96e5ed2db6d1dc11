// RocksDbFindingStore's outbox: the "outbox" column family, keyed by an 8-byte big-endian
// sequence number, written in the checkpoint's WriteBatch, bounded by count (the oldest are
// dropped and counted), trimmed as the relay's messages are acknowledged.
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

std::string OutboxKey(uint64_t seq) {
  std::string key;
  AppendBigEndian64(seq, &key);
  return key;
}

// [channel length: 1 byte][channel][key length: 4 bytes big-endian][key][value].
std::string EncodeOutboxValue(const OutboxMessage& m) {
  std::string out;
  const size_t channel = std::min<size_t>(m.channel.size(), 255);
  const uint32_t key = static_cast<uint32_t>(std::min<size_t>(m.key.size(), UINT32_MAX));
  out.reserve(1 + channel + 4 + key + m.value.size());
  out.push_back(static_cast<char>(channel));
  out.append(m.channel, 0, channel);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(key >> shift));
  out.append(m.key, 0, key);
  out.append(m.value);
  return out;
}

bool DecodeOutboxValue(std::string_view v, OutboxMessage* m) {
  if (v.empty()) return false;
  const size_t channel = static_cast<unsigned char>(v[0]);
  if (v.size() < 1 + channel + 4) return false;
  m->channel.assign(v.substr(1, channel));
  v.remove_prefix(1 + channel);
  uint32_t key = 0;
  for (int i = 0; i < 4; ++i) key = (key << 8) | static_cast<unsigned char>(v[i]);
  v.remove_prefix(4);
  if (v.size() < key) return false;
  m->key.assign(v.substr(0, key));
  m->value.assign(v.substr(key));
  return true;
}

}  // namespace

Status RocksDbFindingStore::LoadOutboxBounds() {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, outbox_cf_));
  uint64_t count = 0, first = 0, next = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != kSeqBytes) continue;  // not ours: left alone
    const uint64_t seq = DecodeBigEndian64(std::string_view(it->key().data(), kSeqBytes));
    if (count == 0) first = seq;
    ++count;
    next = seq + 1;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "count outbox");
  std::lock_guard<std::mutex> lock(put_mu_);
  ob_next_seq_ = next;
  ob_first_seq_.store(count == 0 ? next : first);
  ob_count_.store(count);
  return Status::Ok();
}

Status RocksDbFindingStore::AddOutbox(const std::vector<OutboxMessage>& messages,
                                      rocksdb::WriteBatch* batch, OutboxBounds* next) {
  const uint64_t stored = ob_count_.load();
  const uint64_t first = ob_first_seq_.load();
  next->count = stored;
  next->first_seq = first;
  next->dropped = 0;
  next->next_seq = ob_next_seq_;
  if (messages.empty()) return Status::Ok();
  const uint64_t max = opts_.max_outbox;
  const uint64_t total = stored + messages.size();
  // Over the bound: drop the oldest down to a low-water mark (once per max/128 messages, not on
  // every commit), stored ones first, then the oldest of the new ones.
  uint64_t to_remove = total > max ? total - (max - max / 128) : 0;
  uint64_t stored_removed = 0;
  uint64_t first_kept = first;
  if (to_remove > 0 && stored > 0) {
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, outbox_cf_));
    const std::string start = OutboxKey(first);
    uint64_t last_removed = first;
    for (it->Seek(start); it->Valid() && stored_removed < to_remove && stored_removed < stored;
         it->Next()) {
      if (it->key().size() != kSeqBytes) continue;
      last_removed = DecodeBigEndian64(std::string_view(it->key().data(), kSeqBytes));
      ++stored_removed;
    }
    if (!it->status().ok()) return FromRocks(it->status(), "trim outbox");
    if (stored_removed > 0) {
      first_kept = last_removed + 1;
      RETURN_IF_ERROR(
          FromRocks(batch->DeleteRange(outbox_cf_, start, OutboxKey(first_kept)), "trim outbox"));
    }
  }
  const uint64_t fresh_removed =
      std::min<uint64_t>(to_remove - std::min(to_remove, stored_removed), messages.size());
  uint64_t seq = ob_next_seq_;
  for (size_t i = 0; i < messages.size(); ++i, ++seq) {
    if (i < fresh_removed) continue;  // dropped before it was written
    RETURN_IF_ERROR(FromRocks(
        batch->Put(outbox_cf_, OutboxKey(seq), EncodeOutboxValue(messages[i])), "outbox"));
  }
  next->next_seq = seq;
  next->count = stored - stored_removed + (messages.size() - fresh_removed);
  next->dropped = stored_removed + fresh_removed;
  // Every seq below first_seq is gone; when nothing stored is left, the oldest new one.
  next->first_seq = stored_removed == stored ? ob_next_seq_ + fresh_removed : first_kept;
  return Status::Ok();
}

void RocksDbFindingStore::PublishOutboxBounds(const OutboxBounds& next) {
  ob_next_seq_ = next.next_seq;
  ob_first_seq_.store(next.first_seq);
  ob_count_.store(next.count);
  if (next.dropped > 0) ob_dropped_.fetch_add(next.dropped);
}

Result<std::vector<OutboxEntry>> RocksDbFindingStore::ReadOutbox(uint64_t from, size_t limit,
                                                                 size_t max_bytes) const {
  std::vector<OutboxEntry> out;
  if (limit == 0) return out;
  rocksdb::ReadOptions ro;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, outbox_cf_));
  size_t bytes = 0;
  for (it->Seek(OutboxKey(std::max(from, ob_first_seq_.load()))); it->Valid(); it->Next()) {
    if (it->key().size() != kSeqBytes) continue;
    if (out.size() == limit || (!out.empty() && bytes >= max_bytes)) break;
    OutboxEntry e;
    e.seq = DecodeBigEndian64(std::string_view(it->key().data(), kSeqBytes));
    if (!DecodeOutboxValue(std::string_view(it->value().data(), it->value().size()), &e.message)) {
      // Returned with no channel: the relay cannot route it and trims it.
      corrupt_skipped_.fetch_add(1, std::memory_order_relaxed);
      e.message = {};
    }
    bytes += it->value().size();
    out.push_back(std::move(e));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "read outbox");
  return out;
}

Status RocksDbFindingStore::TrimOutbox(const std::vector<uint64_t>& delivered) {
  if (delivered.empty()) return Status::Ok();
  std::vector<uint64_t> seqs = delivered;
  std::sort(seqs.begin(), seqs.end());
  seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
  std::lock_guard<std::mutex> lock(put_mu_);  // serialized with Commit's bound trimming
  rocksdb::WriteBatch batch;
  uint64_t removed = 0;
  const uint64_t first = ob_first_seq_.load();
  for (uint64_t seq : seqs) {
    if (seq < first || seq >= ob_next_seq_) continue;
    const std::string key = OutboxKey(seq);
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), outbox_cf_, key, &value);
    if (s.IsNotFound()) continue;  // trimmed already: count it once
    if (!s.ok()) return FromRocks(s, "trim outbox");
    RETURN_IF_ERROR(FromRocks(batch.Delete(outbox_cf_, key), "trim outbox"));
    ++removed;
  }
  if (removed == 0) return Status::Ok();
  rocksdb::WriteOptions wo;
  wo.sync = false;  // a removal lost in a crash only sends the message again
  RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "trim outbox"));
  ob_count_.fetch_sub(removed);
  return Status::Ok();
}

}  // namespace vigil::store
