// Tests for the index key and cursor encodings.
#include "vigil/store/index_keys.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <limits>
#include <vector>

namespace vigil::store {
namespace {

TEST(IndexKeysTest, InvertedTimeOrdersNewestFirstAndRoundTrips) {
  const std::vector<int64_t> times = {
      std::numeric_limits<int64_t>::max(), 1741069338819232, 1, 0, -1,
      std::numeric_limits<int64_t>::min()};
  std::string prev;
  for (int64_t t : times) {
    std::string enc;
    AppendInvertedTime(t, &enc);
    ASSERT_EQ(enc.size(), 8u);
    EXPECT_EQ(DecodeInvertedTime(enc), t);
    if (!prev.empty()) {
      EXPECT_LT(prev, enc) << "newer time must sort first, t=" << t;
    }
    prev = enc;
  }
}

TEST(IndexKeysTest, PrefixIsUnambiguous) {
  EXPECT_EQ(IndexPrefix(IndexKind::kTime, "ignored"), "");
  // "a" + "b..." must not look like "ab" + "...", even with '\0' in values.
  EXPECT_NE(IndexPrefix(IndexKind::kRule, "ab"), IndexPrefix(IndexKind::kRule, "a"));
  const std::string with_nul("a\0b", 3);
  const std::string key = MakeIndexKey(IndexPrefix(IndexKind::kRule, with_nul), 5, "id1");
  EXPECT_FALSE(ParseIndexKey(key, IndexPrefix(IndexKind::kRule, "a")).has_value());
  auto parsed = ParseIndexKey(key, IndexPrefix(IndexKind::kRule, with_nul));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->first_seen_us, 5);
  EXPECT_EQ(parsed->id, "id1");
}

TEST(IndexKeysTest, ParseRejectsShortKeys) {
  const std::string prefix = IndexPrefix(IndexKind::kUser, "alice");
  EXPECT_FALSE(ParseIndexKey(prefix, prefix).has_value());
  std::string no_id = prefix;
  AppendInvertedTime(7, &no_id);
  EXPECT_FALSE(ParseIndexKey(no_id, prefix).has_value());
}

TEST(IndexKeysTest, CursorRoundTripAndTamperDetection) {
  Cursor c{IndexKind::kCluster, MakeIndexKey(IndexPrefix(IndexKind::kCluster, "prod"), 42, "x")};
  const std::string text = EncodeCursor(c);
  auto back = DecodeCursor(text);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->kind, IndexKind::kCluster);
  EXPECT_EQ(back->key, c.key);

  EXPECT_FALSE(DecodeCursor("").has_value());
  EXPECT_FALSE(DecodeCursor("zz").has_value());
  EXPECT_FALSE(DecodeCursor(text.substr(0, text.size() - 2)).has_value());
  EXPECT_FALSE(DecodeCursor(text + "0").has_value());
  for (size_t i = 0; i < text.size(); ++i) {
    std::string t = text;
    t[i] = t[i] == '0' ? '1' : '0';
    EXPECT_FALSE(DecodeCursor(t).has_value()) << "flipped char " << i;
  }
  std::string upper = text;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (upper != text) {
    EXPECT_FALSE(DecodeCursor(upper).has_value());
  }
  EXPECT_FALSE(DecodeCursor(std::string(20000, 'a')).has_value());
}

}  // namespace
}  // namespace vigil::store
