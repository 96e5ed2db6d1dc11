// FindingsView (see findings_view.h).
#include "vigil/app/findings_view.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <unordered_map>

#include "vigil/core/histogram.h"
#include "vigil/ingest/kafka_topic_reader.h"

namespace vigil::app {

bool NewerFinding(const Finding& a, const Finding& b) {
  if (a.count != b.count) return a.count > b.count;
  if (a.last_seen_us != b.last_seen_us) return a.last_seen_us > b.last_seen_us;
  return a.evidence.size() > b.evidence.size();
}

std::string FindingsView::PositionKey(std::string_view topic, int32_t partition) {
  std::string k = "view";
  k.push_back(kKeySep);
  k.append(topic);
  k.push_back(kKeySep);
  k.append(std::to_string(partition));
  return k;
}

FindingsView::FindingsView(FindingsViewOptions options, FindingStore* findings, StateStore* state)
    : options_(std::move(options)), findings_(findings), state_(state) {}

FindingsView::~FindingsView() { Stop(); }

Status FindingsView::Start(std::chrono::milliseconds timeout) {
  ingest::KafkaReaderOptions ro;
  ro.brokers = options_.brokers;
  ro.properties = options_.properties;
  ro.client_id = options_.client_id + "-view";
  ASSIGN_OR_RETURN(reader_, ingest::KafkaTopicReader::Create(std::move(ro)));
  ASSIGN_OR_RETURN(partitions_, reader_->PartitionCount(options_.topic, timeout));
  next_.assign(static_cast<size_t>(partitions_), -2);
  moved_.assign(static_cast<size_t>(partitions_), false);
  std::vector<ingest::ReaderPartition> assign;
  for (int32_t p = 0; p < partitions_; ++p) {
    auto stored = state_->GetMeta(PositionKey(options_.topic, p));
    if (!stored.ok()) return stored.status();
    int64_t offset = -2;  // the beginning
    if (stored->has_value()) {
      const std::string& v = **stored;
      std::from_chars(v.data(), v.data() + v.size(), offset);
    }
    next_[static_cast<size_t>(p)] = offset;
    assign.push_back({options_.topic, p, offset});
  }
  RETURN_IF_ERROR(reader_->Assign(assign));
  spdlog::info("findings view: reading {} ({} partitions)", options_.topic, partitions_);
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void FindingsView::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

Status FindingsView::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

Status FindingsView::Flush() {
  if (pending_.empty() && std::none_of(moved_.begin(), moved_.end(), [](bool m) { return m; })) {
    return Status::Ok();
  }
  // The newest version of each finding read, then only where it is newer than the stored one.
  std::unordered_map<std::string, Finding*> newest;
  for (Finding& f : pending_) {
    auto [it, inserted] = newest.try_emplace(f.id, &f);
    if (!inserted && NewerFinding(f, *it->second)) it->second = &f;
  }
  StateCheckpoint cp;
  for (auto& [id, f] : newest) {
    auto stored = findings_->Get(id);
    if (stored.ok() && !NewerFinding(*f, *stored)) {
      n_stale_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (!stored.ok() && stored.status().code() != StatusCode::kNotFound &&
        stored.status().code() != StatusCode::kCorruption) {
      return stored.status().WithContext("findings view: reading " + id);
    }
    cp.findings.push_back(std::move(*f));
  }
  for (size_t p = 0; p < moved_.size(); ++p) {
    if (!moved_[p]) continue;
    cp.meta.emplace_back(PositionKey(options_.topic, static_cast<int32_t>(p)),
                         std::to_string(next_[p]));
    moved_[p] = false;
  }
  pending_.clear();
  n_applied_.fetch_add(cp.findings.size(), std::memory_order_relaxed);
  return state_->Commit(cp).WithContext("findings view: writing");
}

void FindingsView::Loop() {
  pthread_setname_np(pthread_self(), "vigil-view");
  auto last_lag = std::chrono::steady_clock::time_point{};
  while (!stop_.load()) {
    auto polled = reader_->Poll(options_.poll, options_.batch, [&](const ingest::KafkaReadRecord& r) {
      n_records_.fetch_add(1, std::memory_order_relaxed);
      const auto p = static_cast<size_t>(r.partition());
      if (p < next_.size()) {
        next_[p] = r.offset() + 1;
        moved_[p] = true;
      }
      auto value = r.value();
      if (!value) return;  // a tombstone: findings are never deleted through the topic
      auto f = FindingFromJson(*value);
      if (!f.ok() || f->id.empty()) {
        n_bad_.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("findings view: {}[{}]@{}: not a finding: {}", options_.topic, r.partition(),
                     r.offset(), f.ok() ? "no id" : f.status().message());
        return;
      }
      pending_.push_back(std::move(*f));
    });
    Status s = polled.ok() ? Flush() : polled.status();
    if (!s.ok()) {
      n_errors_.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("{}", s.message());
      std::lock_guard<std::mutex> lock(mu_);
      status_ = s;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_lag >= std::chrono::seconds(1) || (polled.ok() && *polled == 0)) {
      last_lag = now;
      uint64_t lag = 0;
      bool known = true;
      for (int32_t p = 0; p < partitions_; ++p) {
        auto w = reader_->Watermarks(options_.topic, p, std::chrono::seconds(5));
        if (!w.ok()) {
          known = false;
          continue;
        }
        const int64_t next = next_[static_cast<size_t>(p)] < 0 ? w->first : next_[static_cast<size_t>(p)];
        if (w->second > next) lag += static_cast<uint64_t>(w->second - next);
      }
      lag_ = lag;
      if (known && lag == 0) caught_up_ = true;
    }
  }
  if (Status s = Flush(); !s.ok()) spdlog::error("{}", s.message());
}

void FindingsView::RenderMetrics(std::string* out) const {
  auto metric = [&](const char* name, const char* type, const char* help, uint64_t value) {
    AppendMetricHeader(name, type, help, out);
    out->append(name).append(" ").append(std::to_string(value)).append("\n");
  };
  metric("vigil_findings_view_records_total", "counter", "Records read from the findings topic.",
         n_records_.load());
  metric("vigil_findings_view_applied_total", "counter",
         "Finding versions written to the view (newer than the stored one).", n_applied_.load());
  metric("vigil_findings_view_stale_total", "counter",
         "Finding versions skipped: the view already had that one or a newer one.",
         n_stale_.load());
  metric("vigil_findings_view_bad_records_total", "counter",
         "Records of the findings topic that are not findings.", n_bad_.load());
  metric("vigil_findings_view_errors_total", "counter", "Reads or writes of the view that failed.",
         n_errors_.load());
  metric("vigil_findings_view_lag", "gauge", "Records of the findings topic not read yet.",
         lag_.load());
}

}  // namespace vigil::app
