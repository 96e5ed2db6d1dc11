// Tests for query-string decoding and bearer token checks.
#include "vigil/api/http_util.h"

#include <gtest/gtest.h>

namespace vigil::api {
namespace {

TEST(UrlDecodeTest, DecodesPercentAndPlus) {
  EXPECT_EQ(UrlDecode("a%20b+c").value(), "a b c");
  EXPECT_EQ(UrlDecode("%41%6a%2F").value(), "Aj/");
  EXPECT_EQ(UrlDecode("a+b", /*plus_is_space=*/false).value(), "a+b");
  EXPECT_EQ(UrlDecode("%00").value(), std::string(1, '\0'));
  EXPECT_EQ(UrlDecode("").value(), "");
}

TEST(UrlDecodeTest, RejectsBadEscapes) {
  EXPECT_FALSE(UrlDecode("%").ok());
  EXPECT_FALSE(UrlDecode("abc%4").ok());
  EXPECT_FALSE(UrlDecode("%zz").ok());
  EXPECT_FALSE(UrlDecode("%g1").ok());
}

TEST(ParseQueryStringTest, SplitsAndDecodes) {
  auto q = ParseQueryString("a=1&b=x+y&&c&d=%3D%26");
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  ASSERT_EQ(q->size(), 4u);
  EXPECT_EQ((*q)[0], (std::pair<std::string, std::string>("a", "1")));
  EXPECT_EQ((*q)[1], (std::pair<std::string, std::string>("b", "x y")));
  EXPECT_EQ((*q)[2], (std::pair<std::string, std::string>("c", "")));
  EXPECT_EQ((*q)[3], (std::pair<std::string, std::string>("d", "=&")));
  EXPECT_TRUE(ParseQueryString("").value().empty());
  EXPECT_FALSE(ParseQueryString("a=%zz").ok());
  EXPECT_FALSE(ParseQueryString("%=1").ok());
}

TEST(ConstantTimeEqualsTest, ComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secreT", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret1", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secre", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secretsecret", "secret"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(BearerTokenMatchesTest, AcceptsOnlyTheRightToken) {
  EXPECT_TRUE(BearerTokenMatches("Bearer tok", "tok"));
  EXPECT_TRUE(BearerTokenMatches("bearer  tok ", "tok"));
  EXPECT_FALSE(BearerTokenMatches("Bearer tok2", "tok"));
  EXPECT_FALSE(BearerTokenMatches("Basic tok", "tok"));
  EXPECT_FALSE(BearerTokenMatches("Bearertok", "tok"));
  EXPECT_FALSE(BearerTokenMatches("Bearer ", "tok"));
  EXPECT_FALSE(BearerTokenMatches("", "tok"));
  EXPECT_FALSE(BearerTokenMatches("Bearer ", ""));
}

}  // namespace
}  // namespace vigil::api
