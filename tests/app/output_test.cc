#include "vigil/app/output.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

namespace vigil::app {
namespace {

Finding Make(const std::string& rule, const std::string& user) {
  Finding f;
  f.rule_id = rule;
  f.cluster = "prod";
  f.id = MakeFindingId(rule, "prod", user);
  f.user = user;
  f.verb = "create";
  f.severity = Severity::kHigh;
  f.object = {"", "pods", "default", "web-0", "exec"};
  f.first_seen_us = f.last_seen_us = 1741069338819232;
  f.message = "line one\nline two";
  return f;
}

TEST(OutputTest, TableHasHeaderRowsAndCount) {
  std::ostringstream os;
  PrintFindings({Make("k8s.exec_into_pod", "alice"), Make("k8s.privileged_pod", "bob")},
                OutputFormat::kTable, os);
  std::string s = os.str();
  EXPECT_EQ(s.rfind("FIRST SEEN (UTC)", 0), 0u);
  EXPECT_NE(s.find("2025-03-04 06:22:18"), std::string::npos);
  EXPECT_NE(s.find("k8s.privileged_pod"), std::string::npos);
  EXPECT_NE(s.find("pods/exec default/web-0"), std::string::npos);
  EXPECT_NE(s.find("2 findings"), std::string::npos);
}

TEST(OutputTest, JsonlIsOneDecodableFindingPerLine) {
  std::ostringstream os;
  PrintFindings({Make("a", "u1"), Make("b", "u2")}, OutputFormat::kJsonl, os);
  std::istringstream in(os.str());
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    auto f = FindingFromJson(line);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ(f->message, "line one\nline two");
    ++n;
  }
  EXPECT_EQ(n, 2);
}

// Falco's alert: exact text, so a change of shape is a visible decision.
TEST(OutputTest, FalcoAlertShape) {
  Finding f = Make("falco.attach_exec_pod", "alice");
  f.rule_name = "Attach/Exec Pod";
  f.severity = Severity::kLow;
  f.attack_ids = {"T1609"};
  f.tags = {"k8s", "T1609"};
  f.message = "Attach/Exec to pod (user=alice pod=web-0)";
  f.fields = {{"ka.user.name", "alice"}, {"ka.target.name", "web-0"}};
  f.source_ips = {"10.0.0.1", "10.0.0.2"};
  EXPECT_EQ(FindingToFalcoJson(f, "vigil-0"),
            R"({"time":"2025-03-04T06:22:18.819232000Z","rule":"Attach/Exec Pod",)"
            R"("priority":"Notice","output":"06:22:18.819232000: Notice Attach/Exec to pod )"
            R"x((user=alice pod=web-0)","output_fields":{"evt.time":1741069338819232000,)x"
            R"("ka.user.name":"alice","ka.target.name":"web-0","ka.verb":"create",)"
            R"("ka.target.resource":"pods","ka.target.subresource":"exec",)"
            R"("ka.target.namespace":"default","ka.sourceips":"10.0.0.1,10.0.0.2",)"
            R"("ka.cluster.name":"prod","vigil.finding_id":")" +
                f.id +
                R"(","vigil.rule_id":"falco.attach_exec_pod","vigil.count":"1"},)"
                R"("source":"k8s_audit","tags":["k8s","T1609"],"hostname":"vigil-0"})");
  EXPECT_EQ(FalcoPriorityName(Severity::kCritical), "Critical");
  EXPECT_EQ(FalcoPriorityName(Severity::kHigh), "Error");
  EXPECT_EQ(FalcoPriorityName(Severity::kMedium), "Warning");
  EXPECT_EQ(FalcoPriorityName(Severity::kInfo), "Informational");
  std::ostringstream os;
  PrintFindings({f, Make("k8s.x", "bob")}, OutputFormat::kFalco, os);
  std::string text = os.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  EXPECT_EQ(text.rfind("{\"time\":", 0), 0u);
}

TEST(OutputTest, FormatNames) {
  OutputFormat f;
  EXPECT_TRUE(ParseOutputFormat("json", &f));
  EXPECT_EQ(f, OutputFormat::kJson);
  EXPECT_FALSE(ParseOutputFormat("xml", &f));
}

}  // namespace
}  // namespace vigil::app

namespace vigil::app {
namespace {

TEST(OutputTest, ControlCharactersNeverReachTheTerminal) {
  EXPECT_EQ(SanitizeForTerminal("a\x1b]0;pwned\x07" "b\n"), "a?]0;pwned?b?");
  EXPECT_EQ(SanitizeForTerminal("x\xC2\x9B" "31m"), "x?31m");  // C1 CSI
  EXPECT_EQ(SanitizeForTerminal("caf\xC3\xA9"), "caf\xC3\xA9");  // printable UTF-8 kept
  Finding f;
  f.rule_id = "r";
  f.user = "eve\x1b[2J";
  f.message = "ran \x1b[31mexec\x1b[0m";
  std::ostringstream os;
  PrintFindings({f}, OutputFormat::kTable, os);
  EXPECT_EQ(os.str().find('\x1b'), std::string::npos);
}

}  // namespace
}  // namespace vigil::app
