// Pipeline counters shared by the pipeline (writer) and the API (reader of /metrics).
// Lock-free; relaxed ordering is enough for monitoring.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vigil/core/histogram.h"

namespace vigil {

// Events parsed, by the cluster of their channel and the kind of source ("kafka", "webhook",
// "file"). Bounded: the first kMaxClusters clusters seen get their own rows, later ones are
// counted under kOtherCluster. Thread-safe (a mutex: the pipeline adds once per batch and origin,
// not per event).
class EventCounts {
 public:
  static constexpr size_t kMaxClusters = 1000;
  static constexpr std::string_view kOtherCluster = "_other";

  void Add(std::string_view cluster, std::string_view source, uint64_t n);

  struct Row {
    std::string cluster, source;
    uint64_t events = 0;
  };
  // Sorted by cluster, then source.
  std::vector<Row> Snapshot() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, uint64_t, std::less<>> counts_;  // guarded by mu_
  size_t clusters_ = 0;                                                          // guarded by mu_
};

// The stages of the pipeline whose durations /metrics shows
// (vigil_pipeline_stage_duration_seconds{stage=...}).
enum class PipelineStage : uint8_t {
  kDecodeDetect,  // a worker decodes a batch and runs the rules on it
  kApply,         // the applying thread: dedup, stateful operators, aggregation of one batch
  kMerge,         // a checkpoint reads the stored findings it updates and merges them
  kCommit,        // a checkpoint's one RocksDB write (findings, state, positions)
};
inline constexpr std::array<std::string_view, 4> kPipelineStageNames = {"decode_detect", "apply",
                                                                        "merge", "commit"};

struct PipelineMetrics {
  std::atomic<uint64_t> events_read{0};       // records seen by ingest (good or bad)
  std::atomic<uint64_t> events_parsed{0};     // valid audit events
  std::atomic<uint64_t> events_malformed{0};  // rejected: bad JSON, bad shape, over size ...
  std::atomic<uint64_t> events_skipped{0};    // well-formed but not audit events (other logs)
  std::atomic<uint64_t> bytes_read{0};        // raw bytes consumed (after decompression)
  std::atomic<uint64_t> findings{0};          // distinct findings (new ids) raised
  std::atomic<uint64_t> fields_dropped{0};    // fields of the wrong type ignored in good events
  std::atomic<uint64_t> dead_letters{0};      // records kept in the dead-letter store
  std::atomic<uint64_t> checkpoints{0};       // checkpoints made durable
  std::atomic<uint64_t> pipeline_errors{0};   // runs of the pipeline that failed (then restarted)

  EventCounts events_by_origin;  // events parsed, per (cluster, source)
  std::array<LatencyHistogram, kPipelineStageNames.size()> stage_durations;

  void ObserveStage(PipelineStage stage, std::chrono::nanoseconds d) {
    stage_durations[static_cast<size_t>(stage)].Observe(d);
  }

  static void Inc(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.fetch_add(n, std::memory_order_relaxed);
  }
};

// Renders the counters, the events per (cluster, source) and the stage histograms in the
// Prometheus text exposition format (version 0.0.4), each family with HELP and TYPE.
std::string RenderPrometheus(const PipelineMetrics& m);

}  // namespace vigil
