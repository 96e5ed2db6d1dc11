// Prometheus text rendering of the pipeline counters; the bounded per-(cluster, source) counts.
#include "vigil/core/metrics.h"

namespace vigil {
namespace {

void Counter(const char* name, const char* help, const std::atomic<uint64_t>& v, std::string* out) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n");
  out->append("# TYPE ").append(name).append(" counter\n");
  out->append(name).append(" ").append(std::to_string(v.load(std::memory_order_relaxed)));
  out->append("\n");
}

}  // namespace

void EventCounts::Add(std::string_view cluster, std::string_view source, uint64_t n) {
  if (n == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto key = std::make_pair(std::string(cluster), std::string(source));
  auto it = counts_.find(key);
  if (it == counts_.end()) {
    const bool known_cluster = [&] {
      auto c = counts_.lower_bound(std::make_pair(key.first, std::string()));
      return c != counts_.end() && c->first.first == key.first;
    }();
    if (!known_cluster) {
      if (clusters_ >= kMaxClusters) {
        key.first = std::string(kOtherCluster);
      } else {
        ++clusters_;
      }
    }
    it = counts_.try_emplace(std::move(key), 0).first;
  }
  it->second += n;
}

std::vector<EventCounts::Row> EventCounts::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Row> rows;
  rows.reserve(counts_.size());
  for (const auto& [key, n] : counts_) rows.push_back({key.first, key.second, n});
  return rows;
}

std::string RenderPrometheus(const PipelineMetrics& m) {
  std::string out;
  Counter("vigil_events_read_total", "Records read by ingest, good or bad.", m.events_read, &out);
  Counter("vigil_events_parsed_total", "Valid audit events parsed.", m.events_parsed, &out);
  Counter("vigil_events_malformed_total", "Records rejected as malformed.", m.events_malformed,
          &out);
  Counter("vigil_events_skipped_total", "Well-formed records that are not audit events.",
          m.events_skipped, &out);
  Counter("vigil_bytes_read_total", "Raw bytes read by ingest (after decompression).", m.bytes_read,
          &out);
  Counter("vigil_findings_total", "Distinct findings raised (repeats of a finding update it).",
          m.findings, &out);
  Counter("vigil_fields_dropped_total", "Fields of the wrong type ignored in good events.",
          m.fields_dropped, &out);
  Counter("vigil_dead_letters_total", "Records that could not be parsed, kept as dead letters.",
          m.dead_letters, &out);
  Counter("vigil_checkpoints_total", "Checkpoints made durable.", m.checkpoints, &out);
  Counter("vigil_pipeline_errors_total",
          "Times the pipeline failed (an exception or a store or source error) and was restarted.",
          m.pipeline_errors, &out);
  AppendMetricHeader("vigil_events_by_origin_total", "counter",
                     "Audit events parsed, by the cluster of their channel and the kind of source "
                     "(at most 1000 clusters, then cluster=\"_other\").",
                     &out);
  for (const EventCounts::Row& r : m.events_by_origin.Snapshot()) {
    out.append("vigil_events_by_origin_total{cluster=\"")
        .append(EscapeLabelValue(r.cluster))
        .append("\",source=\"")
        .append(EscapeLabelValue(r.source))
        .append("\"} ")
        .append(std::to_string(r.events))
        .append("\n");
  }
  AppendMetricHeader("vigil_pipeline_stage_duration_seconds", "histogram",
                     "Time spent per pipeline stage: decode_detect and apply per batch, merge and "
                     "commit per checkpoint.",
                     &out);
  for (size_t i = 0; i < kPipelineStageNames.size(); ++i) {
    m.stage_durations[i].Render("vigil_pipeline_stage_duration_seconds",
                                "stage=\"" + std::string(kPipelineStageNames[i]) + "\"", &out);
  }
  return out;
}

}  // namespace vigil
