#include "vigil/core/url_decode.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

TEST(UrlDecodeTest, Strict) {
  EXPECT_EQ(UrlDecode("cat%20%2Fetc%2fshadow").value(), "cat /etc/shadow");
  EXPECT_EQ(UrlDecode("a+b").value(), "a b");
  EXPECT_EQ(UrlDecode("a+b", /*plus_is_space=*/false).value(), "a+b");
  EXPECT_EQ(UrlDecode("%00%ff").value(), std::string("\0\xff", 2));
  for (const char* bad : {"%", "%4", "abc%4", "%zz", "%g0"}) {
    EXPECT_EQ(UrlDecode(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(UrlDecodeTest, LenientKeepsBadEscapes) {
  EXPECT_EQ(UrlDecodeLenient("100%"), "100%");
  EXPECT_EQ(UrlDecodeLenient("%zz%41"), "%zzA");
  EXPECT_EQ(UrlDecodeLenient("sh+-c"), "sh -c");
}

}  // namespace
}  // namespace vigil
