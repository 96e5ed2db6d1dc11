// FalcoSink's URL parsing: what it accepts and what it refuses with the reason. Posting itself
// is tested end to end (falco_output_e2e_test.cc) against a falcosidekick-shaped receiver.
#include "vigil/app/falco_sink.h"

#include <gtest/gtest.h>

namespace vigil::app {
namespace {

std::string Show(std::string_view url) {
  auto u = ParseHttpUrl(url);
  if (!u.ok()) return "ERR " + u.status().message();
  return std::string(u->tls ? "tls " : "") + u->host + " " + u->port + " " + u->target;
}

TEST(FalcoSinkTest, ParsesEndpointUrls) {
  EXPECT_EQ(Show("http://falcosidekick:2801/"), "falcosidekick 2801 /");
  EXPECT_EQ(Show("http://falcosidekick"), "falcosidekick 80 /");
  EXPECT_EQ(Show("https://alerts.example.com/falco?x=1#frag"),
            "tls alerts.example.com 443 /falco?x=1");
  EXPECT_EQ(Show("http://h?x=1"), "h 80 /?x=1");
  EXPECT_EQ(Show("http://[::1]:2801/a"), "::1 2801 /a");
  EXPECT_EQ(Show("http://[fe80::1]/"), "fe80::1 80 /");
  for (const auto& [url, why] : std::vector<std::pair<std::string, std::string>>{
           {"ftp://h/", "must start with http:// or https://"},
           {"http://:80/", "no host"},
           {"http:///x", "no host"},
           {"http://h:8x/", "bad port '8x'"},
           {"http://h:0/", "bad port '0'"},
           {"http://h:65536/", "bad port '65536'"},
           {"http://fe80::1/", "must be written in brackets"},
           {"http://[::1/", "unterminated '['"},
           {"http://[::1]x:80/", "unexpected text after ']'"},
           {"http://user:pw@h/", "credentials in the URL are not supported"}}) {
    EXPECT_NE(Show(url).find(why), std::string::npos) << url << ": " << Show(url);
  }
}

}  // namespace
}  // namespace vigil::app
