// LatencyHistogram buckets and rendering; EventCounts' bound on clusters; RenderPrometheus gives
// every family a HELP and a TYPE line.
#include "vigil/core/metrics.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <sstream>

#include "vigil/core/histogram.h"

namespace vigil {
namespace {

using namespace std::chrono_literals;

TEST(LatencyHistogramTest, BucketsAreCumulativeAndCountEqualsInf) {
  LatencyHistogram h;
  h.Observe(50us);  // <= 0.0001
  h.Observe(2ms);   // <= 0.0025
  h.Observe(2ms);
  h.Observe(30s);   // +Inf only
  h.Observe(-5ns);  // a clock step back counts as 0
  std::string out;
  h.Render("x_seconds", "stage=\"a\"", &out);
  EXPECT_NE(out.find("x_seconds_bucket{stage=\"a\",le=\"0.0001\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{stage=\"a\",le=\"0.001\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{stage=\"a\",le=\"0.0025\"} 4\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{stage=\"a\",le=\"10\"} 4\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{stage=\"a\",le=\"+Inf\"} 5\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_sum{stage=\"a\"} 30.00405\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_count{stage=\"a\"} 5\n"), std::string::npos) << out;
  EXPECT_EQ(h.count(), 5u);
}

TEST(LatencyHistogramTest, NoLabels) {
  LatencyHistogram h;
  std::string out;
  h.Render("y_seconds", "", &out);
  EXPECT_NE(out.find("y_seconds_bucket{le=\"+Inf\"} 0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("y_seconds_count 0\n"), std::string::npos) << out;
}

TEST(EventCountsTest, OverflowClustersGoToOther) {
  EventCounts c;
  for (size_t i = 0; i < EventCounts::kMaxClusters; ++i) c.Add("c" + std::to_string(i), "kafka", 1);
  c.Add("c0", "webhook", 2);    // a known cluster keeps its own rows, for any source
  c.Add("late-1", "kafka", 3);  // over the bound
  c.Add("late-2", "kafka", 4);
  c.Add("late-3", "file", 0);  // nothing to count
  const auto rows = c.Snapshot();
  ASSERT_EQ(rows.size(), EventCounts::kMaxClusters + 2);
  uint64_t other = 0, c0_webhook = 0;
  for (const auto& r : rows) {
    if (r.cluster == EventCounts::kOtherCluster) other += r.events;
    if (r.cluster == "c0" && r.source == "webhook") c0_webhook = r.events;
    EXPECT_NE(r.cluster, "late-1");
  }
  EXPECT_EQ(other, 7u);
  EXPECT_EQ(c0_webhook, 2u);
}

TEST(RenderPrometheusTest, EveryFamilyHasHelpAndType) {
  PipelineMetrics m;
  PipelineMetrics::Inc(m.events_parsed, 3);
  m.events_by_origin.Add("prod \"eu\"", "kafka", 3);
  m.ObserveStage(PipelineStage::kCommit, 3ms);
  const std::string out = RenderPrometheus(m);
  std::set<std::string> help, type, samples;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# HELP ", 0) == 0) {
      help.insert(line.substr(7, line.find(' ', 7) - 7));
    } else if (line.rfind("# TYPE ", 0) == 0) {
      type.insert(line.substr(7, line.find(' ', 7) - 7));
    } else {
      std::string name = line.substr(0, line.find_first_of("{ "));
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        if (!type.count(name) && name.size() > strlen(suffix) &&
            name.compare(name.size() - strlen(suffix), std::string::npos, suffix) == 0) {
          name.resize(name.size() - strlen(suffix));
        }
      }
      samples.insert(name);
    }
  }
  for (const std::string& s : samples) {
    EXPECT_TRUE(help.count(s)) << s;
    EXPECT_TRUE(type.count(s)) << s;
  }
  EXPECT_NE(
      out.find("vigil_events_by_origin_total{cluster=\"prod \\\"eu\\\"\",source=\"kafka\"} 3\n"),
      std::string::npos)
      << out;
  EXPECT_NE(out.find("vigil_pipeline_stage_duration_seconds_count{stage=\"commit\"} 1\n"),
            std::string::npos)
      << out;
}

}  // namespace
}  // namespace vigil
