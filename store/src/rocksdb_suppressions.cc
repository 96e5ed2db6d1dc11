// RocksDbFindingStore's suppressions: the "suppressions" column family (id -> SuppressionToJson),
// mirrored in memory so that the checkpoint path matches findings without reading RocksDB.
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <memory>
#include <random>

#include "rocksdb_util.h"
#include "vigil/store/rocksdb_finding_store.h"

namespace vigil::store {

using internal::FromRocks;

namespace {

// 128 random bits as 32 lowercase hex characters: ids that another instance or a restored
// backup will not reuse.
std::string NewSuppressionId() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::string id;
  id.reserve(32);
  for (int word = 0; word < 4; ++word) {
    uint32_t bits = rd();
    for (int i = 0; i < 8; ++i, bits >>= 4) id.push_back(kHex[bits & 0xF]);
  }
  return id;
}

}  // namespace

void RocksDbFindingStore::EraseSuppression(const std::string& id) {
  auto it = suppressions_.find(id);
  if (it == suppressions_.end()) return;
  auto [begin, end] = sup_by_rule_.equal_range(it->second.rule_id);
  for (auto r = begin; r != end; ++r) {
    if (r->second == &it->second) {
      sup_by_rule_.erase(r);
      break;
    }
  }
  suppressions_.erase(it);
}

Status RocksDbFindingStore::LoadSuppressions() {
  std::lock_guard<std::mutex> lock(put_mu_);
  std::lock_guard<std::mutex> sup_lock(sup_mu_);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), suppressions_cf_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto s = SuppressionFromJson(std::string_view(it->value().data(), it->value().size()));
    if (!s.ok() || s->id != it->key().ToString()) {
      // Outside damage: skipped (and counted) rather than failing Open; deleting the id by the
      // API removes it.
      corrupt_skipped_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    auto [pos, inserted] = suppressions_.emplace(s->id, std::move(s).value());
    sup_by_rule_.emplace(pos->second.rule_id, &pos->second);
  }
  return FromRocks(it->status(), "read suppressions");
}

Result<Suppression> RocksDbFindingStore::AddSuppression(Suppression s) {
  std::lock_guard<std::mutex> lock(put_mu_);
  const int64_t now_us = opts_.clock->NowMicros();
  RETURN_IF_ERROR(CheckSuppression(s, now_us));
  rocksdb::WriteBatch batch;
  std::vector<std::string> forget;  // expired ones removed to make room
  if (suppressions_.size() >= opts_.max_suppressions) {
    for (const auto& [id, kept] : suppressions_) {
      if (!kept.ActiveAt(now_us)) forget.push_back(id);
    }
    if (suppressions_.size() - forget.size() >= opts_.max_suppressions) {
      return Status::ResourceExhausted("too many suppressions (at most " +
                                       std::to_string(opts_.max_suppressions) +
                                       "); delete some first");
    }
    for (const auto& id : forget) {
      RETURN_IF_ERROR(FromRocks(batch.Delete(suppressions_cf_, id), "add suppression"));
    }
  }
  do {
    s.id = NewSuppressionId();
  } while (suppressions_.contains(s.id));
  s.created_at_us = now_us;
  RETURN_IF_ERROR(
      FromRocks(batch.Put(suppressions_cf_, s.id, SuppressionToJson(s)), "add suppression"));
  rocksdb::WriteOptions wo;
  wo.sync = opts_.sync_writes;
  RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "add suppression"));

  std::lock_guard<std::mutex> sup_lock(sup_mu_);
  for (const auto& id : forget) EraseSuppression(id);
  auto [pos, inserted] = suppressions_.emplace(s.id, s);
  sup_by_rule_.emplace(pos->second.rule_id, &pos->second);
  return s;
}

Result<std::vector<Suppression>> RocksDbFindingStore::ListSuppressions(bool include_expired) const {
  const int64_t now_us = opts_.clock->NowMicros();
  std::vector<Suppression> out;
  std::lock_guard<std::mutex> lock(sup_mu_);
  out.reserve(suppressions_.size());
  for (const auto& [id, s] : suppressions_) {
    if (include_expired || s.ActiveAt(now_us)) out.push_back(s);
  }
  return out;
}

Status RocksDbFindingStore::DeleteSuppression(const std::string& id) {
  std::lock_guard<std::mutex> lock(put_mu_);
  auto it = suppressions_.find(id);
  if (it == suppressions_.end()) return Status::NotFound("suppression " + id + " not found");
  rocksdb::WriteOptions wo;
  wo.sync = opts_.sync_writes;
  RETURN_IF_ERROR(FromRocks(db_->Delete(wo, suppressions_cf_, id), "delete suppression"));
  std::lock_guard<std::mutex> sup_lock(sup_mu_);
  EraseSuppression(id);
  return Status::Ok();
}

}  // namespace vigil::store
