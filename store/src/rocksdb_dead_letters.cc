// RocksDbFindingStore's dead letters: the "deadletters" column family, bounded by count and by
// age, trimmed inside the checkpoint's WriteBatch, listed newest first.
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <utility>

#include "rocksdb_util.h"
#include "vigil/store/dead_letter_codec.h"
#include "vigil/store/rocksdb_finding_store.h"

namespace vigil::store {

using internal::FromRocks;
using internal::SnapshotGuard;

namespace {

int64_t SaturatingSub(int64_t a, int64_t b) {  // b >= 0
  if (a < std::numeric_limits<int64_t>::min() + b) return std::numeric_limits<int64_t>::min();
  return a - b;
}

bool Matches(const DeadLetter& dl, const DeadLetterFilter& f) {
  if (f.source && dl.source != *f.source) return false;
  if (f.origin && dl.origin != *f.origin) return false;
  return true;
}

}  // namespace

Status RocksDbFindingStore::LoadDeadLetterBounds() {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;  // a one-off pass at Open: keep the cache for what is read again
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, dead_letters_cf_));
  DeadLetterBounds bounds;
  uint64_t next_seq = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    if (bounds.count == 0) bounds.first_key.assign(key);
    ++bounds.count;
    // After the highest sequence seen, so that a restart in the same microsecond as a stored
    // entry (or after the clock stepped back) cannot overwrite it.
    if (auto seq = DeadLetterKeySeq(key); seq && *seq >= next_seq) next_seq = *seq + 1;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "count dead letters");
  std::lock_guard<std::mutex> lock(put_mu_);
  dl_next_seq_ = next_seq;
  dl_count_.store(bounds.count);
  std::lock_guard<std::mutex> dl_lock(dl_mu_);
  dl_first_key_ = std::move(bounds.first_key);
  return Status::Ok();
}

Status RocksDbFindingStore::AddDeadLetters(const std::vector<DeadLetter>& dead_letters,
                                           rocksdb::WriteBatch* batch, DeadLetterBounds* next) {
  const int64_t now = opts_.clock->NowMicros();
  const int64_t ttl = DeadLetterTtlMicros();
  // Keys below expire_key are past the TTL.
  const int64_t cutoff = ttl > 0 ? SaturatingSub(now, ttl) : std::numeric_limits<int64_t>::min();
  const std::string expire_key = MakeDeadLetterKey(cutoff, 0);

  // The new entries in key order (key -> index in dead_letters, received time); those already
  // past the TTL are not written at all. Values are encoded only for the entries kept, so a
  // checkpoint far over the bound costs its keys, not a second copy of its records.
  struct Fresh {
    std::string key;
    size_t index;
    int64_t received_us;
  };
  std::vector<Fresh> fresh;
  fresh.reserve(dead_letters.size());
  for (size_t i = 0; i < dead_letters.size(); ++i) {
    const int64_t received = dead_letters[i].received_us != 0 ? dead_letters[i].received_us : now;
    if (received < cutoff) continue;
    fresh.push_back({MakeDeadLetterKey(received, dl_next_seq_++), i, received});
  }
  std::sort(fresh.begin(), fresh.end(),
            [](const Fresh& a, const Fresh& b) { return a.key < b.key; });

  const uint64_t stored = dl_count_.load();
  std::string first_key;
  {
    std::lock_guard<std::mutex> lock(dl_mu_);
    first_key = dl_first_key_;
  }
  const uint64_t max = opts_.max_dead_letters;
  const uint64_t total = stored + fresh.size();
  // Over the bound: remove the oldest down to a low-water mark, so that a steady stream at the
  // bound trims once per max/128 entries instead of on every commit. Likewise for age: trim
  // once the oldest is ttl/128 past the TTL (listings hide it from the TTL on).
  const uint64_t to_remove = total > max ? total - (max - max / 128) : 0;
  bool stale = false;
  if (ttl > 0 && stored > 0) {
    const int64_t oldest =
        DeadLetterKeyTime(first_key).value_or(std::numeric_limits<int64_t>::min());
    stale = oldest < SaturatingSub(cutoff, ttl / 128);
  }

  size_t fresh_removed = 0;
  uint64_t stored_removed = 0;
  std::string last_removed;       // the newest stored key removed
  std::string first_kept_stored;  // the oldest stored key kept, if any
  if (to_remove > 0 || stale) {
    // Walk the stored entries (from the oldest live key: the ones before it are deleted, so the
    // seek skips them) merged with the new ones, oldest first, and remove while over the bound
    // or past the TTL. Work: the entries removed, plus one.
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, dead_letters_cf_));
    it->Seek(first_key);
    while (true) {
      const bool have_stored = stored_removed < stored && it->Valid();
      const bool have_fresh = fresh_removed < fresh.size();
      if (!have_stored && !have_fresh) break;
      const std::string_view stored_key =
          have_stored ? std::string_view(it->key().data(), it->key().size()) : std::string_view();
      const bool take_stored =
          have_stored && (!have_fresh || stored_key < std::string_view(fresh[fresh_removed].key));
      if (take_stored) {
        // New entries are never past the TTL (filtered above): only stored ones are, here.
        if (!(stored_removed + fresh_removed < to_remove ||
              (stale && stored_key < std::string_view(expire_key)))) {
          first_kept_stored.assign(stored_key);
          break;
        }
        last_removed.assign(stored_key);
        ++stored_removed;
        it->Next();
      } else {
        if (stored_removed + fresh_removed >= to_remove) {
          if (have_stored) first_kept_stored.assign(stored_key);
          break;
        }
        ++fresh_removed;
      }
    }
    if (!it->status().ok()) return FromRocks(it->status(), "trim dead letters");
  }

  if (stored_removed > 0) {
    // [everything, successor of the newest removed key): keys are 16 bytes, so key + '\0' is
    // the next possible key, and every kept key (stored or new) is at or after it.
    std::string end = last_removed;
    end.push_back('\0');
    RETURN_IF_ERROR(FromRocks(batch->DeleteRange(dead_letters_cf_, rocksdb::Slice(), end),
                              "trim dead letters"));
  }
  for (size_t i = fresh_removed; i < fresh.size(); ++i) {
    const DeadLetter& dl = dead_letters[fresh[i].index];
    std::string value;
    if (dl.received_us == fresh[i].received_us) {
      value = EncodeDeadLetterValue(dl);
    } else {
      DeadLetter stamped = dl;
      stamped.received_us = fresh[i].received_us;
      value = EncodeDeadLetterValue(stamped);
    }
    RETURN_IF_ERROR(FromRocks(batch->Put(dead_letters_cf_, fresh[i].key, value), "dead letter"));
  }

  next->count = stored - stored_removed + (fresh.size() - fresh_removed);
  // The oldest live key: the oldest kept stored one or the oldest kept new one.
  std::string oldest_stored;
  if (stored_removed == 0) {
    oldest_stored = stored > 0 ? first_key : std::string();
  } else {
    oldest_stored = first_kept_stored;  // empty when every stored entry was removed
  }
  next->first_key = oldest_stored;
  if (fresh_removed < fresh.size()) {
    const std::string& oldest_fresh = fresh[fresh_removed].key;
    if (next->first_key.empty() || oldest_fresh < next->first_key) next->first_key = oldest_fresh;
  }
  if (next->count == 0) next->first_key.clear();
  return Status::Ok();
}

Result<DeadLetterPage> RocksDbFindingStore::ListDeadLetters(const DeadLetterFilter& filter) const {
  if (filter.limit < 1 || filter.limit > kMaxDeadLetterLimit) {
    return Status::InvalidArgument("limit must be 1.." + std::to_string(kMaxDeadLetterLimit) +
                                   ", got " + std::to_string(filter.limit));
  }
  std::optional<std::string> after;
  if (!filter.cursor.empty()) {
    after = DecodeDeadLetterCursor(filter.cursor);
    if (!after) return Status::InvalidArgument("invalid cursor");
  }

  // Never look below the oldest live key (what is below is deleted; stepping over it would be
  // wasted work) nor below the TTL (those are hidden).
  std::string lower;
  {
    std::lock_guard<std::mutex> lock(dl_mu_);
    lower = dl_first_key_;
  }
  if (const int64_t ttl = DeadLetterTtlMicros(); ttl > 0) {
    std::string expire_key = MakeDeadLetterKey(SaturatingSub(opts_.clock->NowMicros(), ttl), 0);
    if (expire_key > lower) lower = std::move(expire_key);
  }
  const rocksdb::Slice lower_slice(lower);

  SnapshotGuard snapshot(db_);
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.get();
  if (!lower.empty()) ro.iterate_lower_bound = &lower_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, dead_letters_cf_));
  if (after) {
    it->SeekForPrev(*after);
    if (it->Valid() && it->key() == rocksdb::Slice(*after)) it->Prev();
  } else {
    it->SeekToLast();
  }

  DeadLetterPage page;
  size_t scanned = 0;
  std::string last_key;  // the last entry looked at: where the next page resumes
  for (; it->Valid(); it->Prev()) {
    if (page.dead_letters.size() == filter.limit || scanned == opts_.max_scan_per_query) {
      page.next_cursor = EncodeDeadLetterCursor(last_key);
      break;
    }
    ++scanned;
    last_key.assign(it->key().data(), it->key().size());
    auto dl = DecodeDeadLetterValue(std::string_view(it->value().data(), it->value().size()));
    if (!dl.ok()) {
      corrupt_skipped_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (!Matches(*dl, filter)) continue;
    page.dead_letters.push_back(std::move(dl).value());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "list dead letters");
  return page;
}

}  // namespace vigil::store
