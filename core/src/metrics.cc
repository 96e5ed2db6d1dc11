// Prometheus text rendering of the pipeline counters.
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

std::string RenderPrometheus(const PipelineMetrics& m) {
  std::string out;
  Counter("vigil_events_read_total", "Records read by ingest, good or bad.", m.events_read, &out);
  Counter("vigil_events_parsed_total", "Valid audit events parsed.", m.events_parsed, &out);
  Counter("vigil_events_malformed_total", "Records rejected as malformed.", m.events_malformed,
          &out);
  Counter("vigil_events_skipped_total", "Well-formed records that are not audit events.",
          m.events_skipped, &out);
  Counter("vigil_bytes_read_total", "Raw bytes read by ingest (after decompression).",
          m.bytes_read, &out);
  Counter("vigil_findings_total", "Distinct findings raised (repeats of a finding update it).", m.findings, &out);
  Counter("vigil_fields_dropped_total", "Fields of the wrong type ignored in good events.",
          m.fields_dropped, &out);
  Counter("vigil_dead_letters_total", "Records that could not be parsed, kept as dead letters.",
          m.dead_letters, &out);
  Counter("vigil_checkpoints_total", "Checkpoints made durable.", m.checkpoints, &out);
  Counter("vigil_pipeline_errors_total",
          "Times the pipeline failed (an exception or a store or source error) and was restarted.",
          m.pipeline_errors, &out);
  return out;
}

}  // namespace vigil
