// Key and value helpers of the StateStore layout, and MemoryStateStore.
#include "vigil/core/state_store.h"

#include <algorithm>
#include <cstring>

#include "vigil/core/memory_state_store.h"

namespace vigil {

void PutExpiry(int64_t expires_us, std::string* value) {
  uint64_t u = static_cast<uint64_t>(expires_us);
  for (int i = 0; i < 8; ++i) value->push_back(static_cast<char>((u >> (8 * i)) & 0xff));
}

int64_t GetExpiry(std::string_view value) {
  if (value.size() < kStateExpiryBytes) return 0;
  uint64_t u = 0;
  for (int i = 7; i >= 0; --i) u = (u << 8) | static_cast<unsigned char>(value[i]);
  return static_cast<int64_t>(u);
}

namespace {
void AppendPart(std::string_view part, std::string* out) {
  for (char c : part) {
    if (c != kKeySep) out->push_back(c);
  }
}
}  // namespace

std::string_view StateKeyCluster(std::string_view state_key) {
  const size_t a = state_key.find(kKeySep);
  if (a == std::string_view::npos) return {};
  const size_t b = state_key.find(kKeySep, a + 1);
  if (b == std::string_view::npos) return {};
  return state_key.substr(a + 1, b - a - 1);
}

std::string_view DedupKeyCluster(std::string_view dedup_key) {
  const size_t a = dedup_key.find(kKeySep);
  if (a == std::string_view::npos) return {};
  return dedup_key.substr(0, a);
}

std::string MakeStateKey(std::string_view rule_id, std::string_view cluster,
                         std::string_view key) {
  std::string out;
  out.reserve(rule_id.size() + cluster.size() + key.size() + 2);
  AppendPart(rule_id, &out);
  out.push_back(kKeySep);
  AppendPart(cluster, &out);
  out.push_back(kKeySep);
  out.append(key);  // the group key keeps its own separators (one per group_by part)
  return out;
}

std::string MakeDedupKey(std::string_view cluster, std::string_view audit_id,
                         std::string_view stage) {
  std::string out;
  out.reserve(cluster.size() + audit_id.size() + stage.size() + 2);
  AppendPart(cluster, &out);
  out.push_back(kKeySep);
  AppendPart(audit_id, &out);
  out.push_back(kKeySep);
  AppendPart(stage, &out);
  return out;
}

MemoryStateStore::MemoryStateStore(size_t max_dead_letters)
    : max_dead_letters_(std::max<size_t>(1, max_dead_letters)) {}

Result<std::optional<std::string>> MemoryStateStore::GetState(std::string_view key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = state_.find(key);
  if (it == state_.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Result<bool> MemoryStateStore::ContainsEvent(std::string_view dedup_key) const {
  std::lock_guard<std::mutex> lock(mu_);
  return dedup_.find(dedup_key) != dedup_.end();
}

Result<std::optional<std::string>> MemoryStateStore::GetMeta(std::string_view key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = meta_.find(key);
  if (it == meta_.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Result<std::vector<std::pair<std::string, std::string>>> MemoryStateStore::ScanMeta(
    std::string_view prefix) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<std::string, std::string>> out;
  for (auto it = meta_.lower_bound(prefix);
       it != meta_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    out.emplace_back(it->first, it->second);
  }
  return out;
}

Status StateStore::CommitIfMeta(const StateCheckpoint& checkpoint, std::string_view key,
                                const std::optional<std::string>& expected) {
  ASSIGN_OR_RETURN(std::optional<std::string> now, GetMeta(key));
  if (now != expected) return Status::FailedPrecondition("meta " + std::string(key) + " changed");
  return Commit(checkpoint);
}

Status MemoryStateStore::Commit(const StateCheckpoint& cp) {
  std::lock_guard<std::mutex> lock(mu_);
  return CommitLocked(cp);
}

Status MemoryStateStore::CommitIfMeta(const StateCheckpoint& cp, std::string_view key,
                                      const std::optional<std::string>& expected) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = meta_.find(key);
  const std::optional<std::string> now =
      it == meta_.end() ? std::nullopt : std::optional<std::string>(it->second);
  if (now != expected) return Status::FailedPrecondition("meta " + std::string(key) + " changed");
  return CommitLocked(cp);
}

Status MemoryStateStore::CommitLocked(const StateCheckpoint& cp) {
  for (const auto& [k, v] : cp.state) state_[k] = v;
  for (const auto& k : cp.state_deletes) state_.erase(k);
  for (const auto& [k, v] : cp.dedup) dedup_[k] = v;
  for (const auto& k : cp.dedup_deletes) dedup_.erase(k);
  for (const auto& [k, v] : cp.meta) meta_[k] = v;
  for (const DeadLetter& in : cp.dead_letters) {
    DeadLetter dl = in;
    TruncateDeadLetter(&dl);
    dead_letters_.emplace(MakeDeadLetterKey(dl.received_us, next_dead_letter_seq_++),
                          std::move(dl));
  }
  while (dead_letters_.size() > max_dead_letters_) dead_letters_.erase(dead_letters_.begin());
  ++commits_;
  return Status::Ok();
}

Result<DeadLetterPage> MemoryStateStore::ListDeadLetters(const DeadLetterFilter& filter) const {
  if (filter.limit < 1 || filter.limit > kMaxDeadLetterLimit) {
    return Status::InvalidArgument("limit must be 1.." + std::to_string(kMaxDeadLetterLimit) +
                                   ", got " + std::to_string(filter.limit));
  }
  std::optional<std::string> after;
  if (!filter.cursor.empty()) {
    after = DecodeDeadLetterCursor(filter.cursor);
    if (!after) return Status::InvalidArgument("invalid cursor");
  }
  std::lock_guard<std::mutex> lock(mu_);
  DeadLetterPage page;
  // Newest first: walk backwards from the entry before the cursor key (or from the end).
  auto it = after ? dead_letters_.lower_bound(*after) : dead_letters_.end();
  std::string last_key;
  while (it != dead_letters_.begin()) {
    --it;
    if (page.dead_letters.size() == filter.limit) {
      page.next_cursor = EncodeDeadLetterCursor(last_key);
      break;
    }
    last_key = it->first;
    const DeadLetter& dl = it->second;
    if (filter.source && dl.source != *filter.source) continue;
    if (filter.origin && dl.origin != *filter.origin) continue;
    page.dead_letters.push_back(dl);
  }
  return page;
}

uint64_t MemoryStateStore::DeadLetterCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dead_letters_.size();
}

size_t MemoryStateStore::state_size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_.size();
}
size_t MemoryStateStore::dedup_size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dedup_.size();
}
uint64_t MemoryStateStore::commits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return commits_;
}

}  // namespace vigil
