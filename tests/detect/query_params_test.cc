#include "vigil/detect/query_params.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vigil::detect {
namespace {

using Strings = std::vector<std::string>;

TEST(QueryParamsTest, DecodesRepeatedCommand) {
  std::string_view uri =
      "/api/v1/namespaces/default/pods/web-0/"
      "exec?command=sh&command=-c&command=cat%20%2Fetc%2Fshadow"
      "&container=web&stdin=true&stdout=true&tty=true";
  EXPECT_EQ(QueryParams(uri, "command"), (Strings{"sh", "-c", "cat /etc/shadow"}));
  EXPECT_EQ(QueryParams(uri, "container"), (Strings{"web"}));
  EXPECT_EQ(QueryParams(uri, "tty"), (Strings{"true"}));
  EXPECT_TRUE(QueryParams(uri, "missing").empty());
}

TEST(QueryParamsTest, NoQueryString) {
  EXPECT_TRUE(QueryParams("/api/v1/pods", "command").empty());
  EXPECT_TRUE(QueryParams("", "command").empty());
  EXPECT_TRUE(QueryParams("/x?", "command").empty());
}

TEST(QueryParamsTest, PlusIsSpaceAndBadEscapesAreKept) {
  EXPECT_EQ(QueryParams("/x?command=echo+hi%21", "command"), (Strings{"echo hi!"}));
  EXPECT_EQ(QueryParams("/x?command=100%&command=%zz&command=%4", "command"),
            (Strings{"100%", "%zz", "%4"}));
  EXPECT_EQ(QueryParams("/x?command=%2b", "command"), (Strings{"+"}));
}

TEST(QueryParamsTest, EmptyValuesKeysAndFragments) {
  EXPECT_EQ(QueryParams("/x?command&command=&&command=a#command=b", "command"),
            (Strings{"", "", "a"}));
  // The key is decoded too, and matching is exact.
  EXPECT_EQ(QueryParams("/x?comm%61nd=ls&commands=no&Command=no", "command"), (Strings{"ls"}));
}

TEST(QueryParamsTest, UrlDecodeKeepsBinaryBytes) {
  EXPECT_EQ(UrlDecode("%00%ff"), std::string("\0\xff", 2));
  EXPECT_EQ(UrlDecode("a%2Fb%2fc"), "a/b/c");
}

}  // namespace
}  // namespace vigil::detect
