#include "vigil/core/json_writer.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

std::string Q(std::string_view s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

TEST(JsonWriterTest, Escapes) {
  EXPECT_EQ(Q("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
  EXPECT_EQ(Q(std::string_view("\x01", 1)), "\"\\u0001\"");
  EXPECT_EQ(Q("h\xC3\xA9"), "\"h\xC3\xA9\"");
}

TEST(JsonWriterTest, ReplacesInvalidUtf8) {
  EXPECT_FALSE(IsValidUtf8("\xC3"));
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));  // surrogate
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x98\x80"));
  EXPECT_EQ(Q("a\xFF" "b"), "\"a\xEF\xBF\xBD" "b\"");
}

}  // namespace
}  // namespace vigil
