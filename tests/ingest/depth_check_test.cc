// CheckDepth's bracket count (AVX2, SSE2 and scalar must agree, at every block boundary and
// around the early stop) and the depth limit it guards.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "event_reader.h"

namespace vigil::ingest::internal {
namespace {

TEST(CountOpensTest, EveryImplementationCountsTheSame) {
  std::mt19937 rng(11);
  const std::string alphabet = "{}[]\"\\ab:,";
  for (size_t len = 0; len < 700; ++len) {
    std::string s(len, 'x');
    for (char& c : s) c = alphabet[rng() % alphabet.size()];
    size_t want = 0;
    for (char c : s) want += (c == '{' || c == '[');
    for (CountImpl impl :
         {CountImpl::kScalar, CountImpl::kSse2, CountImpl::kAvx2, CountImpl::kBest}) {
      // A limit above the count: the exact count.
      EXPECT_EQ(CountOpens(s.data(), s.size(), want, impl), want)
          << "len " << len << " impl " << static_cast<int>(impl);
      // A limit below it: any number over the limit.
      if (want > 0) {
        EXPECT_GT(CountOpens(s.data(), s.size(), want - 1, impl), want - 1)
            << "len " << len << " impl " << static_cast<int>(impl);
      }
    }
  }
  // More than 255 matches per byte lane (the lanes are summed before they overflow).
  const std::string many(40000, '[');
  for (CountImpl impl : {CountImpl::kScalar, CountImpl::kSse2, CountImpl::kAvx2}) {
    EXPECT_EQ(CountOpens(many.data(), many.size(), many.size(), impl), many.size());
  }
}

TEST(CheckDepthTest, LimitIsExactWhateverTheLayout) {
  for (size_t pad = 0; pad < 70; ++pad) {
    for (uint32_t depth : {63u, 64u, 65u}) {
      const std::string doc = "{\"p\":\"" + std::string(pad, 'x') +
                              "\",\"o\":" + std::string(depth - 1, '[') +
                              std::string(depth - 1, ']') + "}";
      EXPECT_EQ(CheckDepth(doc.data(), doc.size(), 64).ok(), depth <= 64)
          << "pad " << pad << " depth " << depth;
    }
  }
  // Many shallow brackets, and brackets inside strings, are not depth.
  std::string wide = "{\"a\":[";
  for (int i = 0; i < 300; ++i) wide += "[],";
  wide += "[]]}";
  EXPECT_TRUE(CheckDepth(wide.data(), wide.size(), 64).ok());
  const std::string quoted = "{\"s\":\"" + std::string(200, '[') + "\\\"" + "\"}";
  EXPECT_TRUE(CheckDepth(quoted.data(), quoted.size(), 64).ok());
}

}  // namespace
}  // namespace vigil::ingest::internal
