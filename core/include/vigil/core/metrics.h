// Pipeline counters shared by the pipeline (writer) and the API (reader of /metrics).
// Lock-free; relaxed ordering is enough for monitoring.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace vigil {

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

  static void Inc(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.fetch_add(n, std::memory_order_relaxed);
  }
};

// Renders the counters in the Prometheus text exposition format (version 0.0.4).
std::string RenderPrometheus(const PipelineMetrics& m);

}  // namespace vigil
