#include "vigil/core/time_util.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

TEST(TimeUtilTest, ParsesRfc3339) {
  EXPECT_EQ(ParseTimestampMicros("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseTimestampMicros("2017-09-11T19:55:05Z"), int64_t{1505159705} * 1000000);
  EXPECT_EQ(ParseTimestampMicros("2025-03-04T06:22:18.819232Z"),
            int64_t{1741069338} * 1000000 + 819232);
  EXPECT_EQ(ParseTimestampMicros("2025-03-04T08:22:18.5+02:00"),
            int64_t{1741069338} * 1000000 + 500000);
  // Lenient forms seen in exported logs.
  EXPECT_EQ(ParseTimestampMicros("2022-11-29 00:09:04.38"),
            int64_t{1669680544} * 1000000 + 380000);
  EXPECT_EQ(ParseTimestampMicros("2024-01-19 13:47:18.279921000"),
            int64_t{1705672038} * 1000000 + 279921);
}

TEST(TimeUtilTest, RejectsGarbage) {
  for (const char* bad : {"", "2017", "2017-13-01T00:00:00Z", "2017-02-30T00:00:00Z",
                          "2017-01-01T25:00:00Z", "2017-01-01T00:00:00Q", "2017-01-01T00:00:00.Z",
                          "2017-01-01T00:00:00Z trailing", "abcd-ef-ghTij:kl:mnZ"}) {
    EXPECT_FALSE(ParseTimestampMicros(bad).has_value()) << bad;
  }
}

TEST(TimeUtilTest, FormatRoundTrips) {
  for (int64_t t : {int64_t{0}, int64_t{1741069338819232}, int64_t{951782400000001}}) {
    EXPECT_EQ(ParseTimestampMicros(FormatTimestampMicros(t)), t);
  }
  EXPECT_EQ(FormatTimestampMicros(1741069338819232), "2025-03-04T06:22:18.819232Z");
}

TEST(TimeUtilTest, ParsesDurations) {
  EXPECT_EQ(ParseDurationMicros("300s"), 300'000'000);
  EXPECT_EQ(ParseDurationMicros("15m"), 900'000'000);
  EXPECT_EQ(ParseDurationMicros("1h30m"), 5'400'000'000);
  EXPECT_EQ(ParseDurationMicros("7d"), int64_t{7} * 86'400'000'000);
  EXPECT_EQ(ParseDurationMicros("250ms"), 250'000);
  for (const char* bad : {"", "5", "m", "5x", "-5m", "0s", "1.5h", "5m ", "999999999999d"}) {
    EXPECT_EQ(ParseDurationMicros(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace vigil
