// A latency histogram with fixed buckets, for Prometheus. Lock-free: one relaxed atomic add per
// observation (its bucket) plus one for the sum, so it can sit on a hot path and be read by
// /metrics at any time.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace vigil {

class LatencyHistogram {
 public:
  // Upper bounds in seconds (Prometheus "le"), from 100 µs to 10 s; slower goes to +Inf.
  static constexpr std::array<double, 15> kBounds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};

  void Observe(std::chrono::nanoseconds d);

  // Appends `name`_bucket{labels,le="..."} (cumulative), `name`_sum (seconds) and `name`_count
  // lines. `labels` is `k="v",k2="v2"` or empty; values must already be escaped. No HELP/TYPE:
  // the caller writes them once per family. _count equals the +Inf bucket (both are derived
  // from the same reads).
  void Render(std::string_view name, std::string_view labels, std::string* out) const;

  uint64_t count() const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};  // not cumulative; last +Inf
  std::atomic<uint64_t> sum_ns_{0};
};

// "# HELP name help\n# TYPE name type\n".
void AppendMetricHeader(std::string_view name, std::string_view type, std::string_view help,
                        std::string* out);

// Escapes a Prometheus label value (backslash, double quote, newline).
std::string EscapeLabelValue(std::string_view v);

}  // namespace vigil
