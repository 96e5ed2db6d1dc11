// LatencyHistogram: atomic buckets rendered in the Prometheus text format.
#include "vigil/core/histogram.h"

#include <cstdio>

namespace vigil {
namespace {

std::string FormatDouble(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

void LatencyHistogram::Observe(std::chrono::nanoseconds d) {
  const int64_t ns = d.count() < 0 ? 0 : d.count();
  const double seconds = static_cast<double>(ns) / 1e9;
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(ns), std::memory_order_relaxed);
}

uint64_t LatencyHistogram::count() const {
  uint64_t n = 0;
  for (const auto& b : buckets_) n += b.load(std::memory_order_relaxed);
  return n;
}

void LatencyHistogram::Render(std::string_view name, std::string_view labels,
                              std::string* out) const {
  const std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out->append(name).append("_bucket{").append(labels).append(sep).append("le=\"");
    out->append(i < kBounds.size() ? FormatDouble(kBounds[i]) : "+Inf");
    out->append("\"} ").append(std::to_string(cumulative)).append("\n");
  }
  const std::string braces = labels.empty() ? "" : "{" + std::string(labels) + "}";
  out->append(name).append("_sum").append(braces).append(" ");
  out->append(FormatDouble(static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9));
  out->append("\n");
  out->append(name).append("_count").append(braces).append(" ");
  out->append(std::to_string(cumulative)).append("\n");
}

void AppendMetricHeader(std::string_view name, std::string_view type, std::string_view help,
                        std::string* out) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n");
  out->append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '"') {
      out.append("\\\"");
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace vigil
