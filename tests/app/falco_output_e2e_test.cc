// Falco's alert format end to end: `vigil replay --format falco` prints alerts that a
// falcosidekick-shaped receiver (real loopback HTTP) accepts unchanged, with the rule's output
// rendered from %fields and <NA> for absent ones; and `vigil serve` with a `falco:` sink POSTs
// every new finding's alert, again after the endpoint failed, and drops what it refuses.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "falco_receiver.h"
#include "subprocess.h"

namespace {

namespace fs = std::filesystem;
using vigil::testing::CheckFalcoPayload;
using vigil::testing::FalcoReceiver;
using vigil::testing::HttpGet;
using vigil::testing::HttpRequest;
using vigil::testing::ListeningPort;
using vigil::testing::Subprocess;
using vigil::testing::WaitFor;
using namespace std::chrono_literals;

// A Falco rules file as users write them: a list, a macro, %fields in the output.
constexpr char kFalcoRules[] = R"(
- list: exec_subresources
  items: [exec, attach]
- macro: pod_exec
  condition: ka.target.resource = pods and ka.target.subresource in (exec_subresources)
- rule: Attach/Exec Pod
  desc: Detect any attempt to attach/exec to a pod
  condition: pod_exec and ka.verb in (create, get)
  output: Attach/Exec to pod (user=%ka.user.name pod=%ka.target.name ns=%ka.target.namespace action=%ka.target.subresource command=%ka.uri.param[command] image=%ka.req.pod.containers.image)
  priority: NOTICE
  source: k8s_audit
  tags: [k8s, T1609]
- rule: Secret Read
  desc: A secret was read
  condition: ka.target.resource = secrets and ka.verb = get and ka.response.code startswith 2
  output: K8s secret read (user=%ka.user.name secret=%ka.target.name ns=%ka.target.namespace)
  priority: ERROR
  source: k8s_audit
  tags: [k8s]
)";

std::string Exec(const std::string& id, const std::string& pod, const std::string& command) {
  return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":")" + id +
         R"(","stage":"ResponseStarted","verb":"create","requestURI":"/api/v1/namespaces/prod/pods/)" +
         pod + "/exec?command=" + command +
         R"(&container=app","user":{"username":"alice@example.com","groups":["system:authenticated"]},)"
         R"("sourceIPs":["203.0.113.7"],"userAgent":"kubectl/v1.29.0","objectRef":{"resource":"pods",)"
         R"("namespace":"prod","name":")" +
         pod +
         R"(","subresource":"exec","apiVersion":"v1"},"responseStatus":{"code":101},)"
         R"("requestReceivedTimestamp":"2026-11-20T10:00:00.100000Z",)"
         R"("stageTimestamp":"2026-11-20T10:00:00.200000Z"})";
}

std::string SecretGet(const std::string& id, const std::string& name) {
  return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":")" + id +
         R"(","stage":"ResponseComplete","verb":"get","requestURI":"/api/v1/namespaces/prod/secrets/)" +
         name +
         R"(","user":{"username":"bob"},"sourceIPs":["10.0.0.9"],"userAgent":"curl/8.0",)"
         R"("objectRef":{"resource":"secrets","namespace":"prod","name":")" +
         name +
         R"(","apiVersion":"v1"},"responseStatus":{"code":200},)"
         R"("requestReceivedTimestamp":"2026-11-20T10:05:00.000000Z",)"
         R"("stageTimestamp":"2026-11-20T10:05:00.010000Z"})";
}

class FalcoOutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vigil-falco-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    rules_ = dir_ + "/falco_rules.yaml";
    std::ofstream(rules_) << kFalcoRules;
    log_ = dir_ + "/audit.log";
    std::ofstream(log_) << Exec("e1", "web-0", "sh") << "\n"
                        << Exec("e2", "web-1", "bash") << "\n"
                        << SecretGet("s1", "db-password") << "\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) out.push_back(line);
    }
    return out;
  }

  std::string dir_, rules_, log_;
};

TEST_F(FalcoOutputTest, ReplayFormatFalcoIsTakenByAFalcosidekickReceiver) {
  Subprocess replay({VIGIL_BINARY, "replay", "--stateless", "--rules", rules_, "--cluster",
                     "prod-eu", "--format", "falco", log_});
  ASSERT_EQ(replay.Wait(120s), 0) << replay.err();
  const std::vector<std::string> alerts = Lines(replay.out());
  ASSERT_EQ(alerts.size(), 3u) << replay.out();

  FalcoReceiver receiver;
  simdjson::dom::parser parser;
  int exec_alerts = 0;
  for (const std::string& alert : alerts) {
    SCOPED_TRACE(alert);
    EXPECT_EQ(CheckFalcoPayload(alert), "");
    // POSTed unchanged, as Falco's http_output would.
    auto posted =
        HttpRequest(receiver.port(), "POST", "/", alert, {"Content-Type: application/json"});
    EXPECT_EQ(posted.status, 200) << posted.body;

    simdjson::dom::element a = parser.parse(alert);
    EXPECT_EQ(std::string_view(a["source"]), "k8s_audit");
    EXPECT_FALSE(std::string_view(a["hostname"]).empty());
    simdjson::dom::object fields = a["output_fields"];
    const std::string_view rule = a["rule"];
    if (rule == "Attach/Exec Pod") {
      ++exec_alerts;
      EXPECT_EQ(std::string_view(a["priority"]), "Notice");
      const std::string_view pod = fields["ka.target.name"];
      const std::string command = pod == "web-0" ? "sh" : "bash";
      // Falco's output: "HH:MM:SS.nnnnnnnnn: Priority " and the rendered template; the pod
      // spec is absent, so its image is <NA>.
      EXPECT_EQ(std::string_view(a["output"]),
                "10:00:00.100000000: Notice Attach/Exec to pod (user=alice@example.com pod=" +
                    std::string(pod) + " ns=prod action=exec command=" + command + " image=<NA>)");
      EXPECT_EQ(std::string_view(a["time"]), "2026-11-20T10:00:00.100000000Z");
      EXPECT_EQ(uint64_t(fields["evt.time"]), 1795168800100000000u);
      EXPECT_EQ(std::string_view(fields["ka.user.name"]), "alice@example.com");
      EXPECT_EQ(std::string_view(fields["ka.target.namespace"]), "prod");
      EXPECT_EQ(std::string_view(fields["ka.uri.param[command]"]), command);
      EXPECT_EQ(std::string_view(fields["ka.req.pod.containers.image"]), "<NA>");
      EXPECT_EQ(std::string_view(fields["ka.cluster.name"]), "prod-eu");
      std::vector<std::string> tags;
      for (auto t : a["tags"].get_array()) tags.emplace_back(std::string_view(t));
      EXPECT_EQ(tags, (std::vector<std::string>{"k8s", "T1609"}));
    } else {
      EXPECT_EQ(rule, "Secret Read");
      EXPECT_EQ(std::string_view(a["priority"]), "Error");
      EXPECT_EQ(std::string_view(fields["ka.target.name"]), "db-password");
      EXPECT_EQ(std::string_view(a["output"]),
                "10:05:00.000000000: Error K8s secret read (user=bob secret=db-password ns=prod)");
    }
  }
  EXPECT_EQ(exec_alerts, 2);
  EXPECT_EQ(receiver.accepted().size(), 3u);
  EXPECT_TRUE(receiver.invalid().empty());

  // The receiver is a real check: what falcosidekick refuses, it refuses.
  for (const std::string& bad :
       {std::string("{\"rule\":\"r\"}"), std::string("not json"),
        std::string(R"({"rule":"r","priority":"Loud","time":"2026-11-20T10:00:00Z",)"
                    R"("output_fields":{"a":"b"}})"),
        std::string(R"({"rule":"r","priority":"Notice","time":"2026-11-20T10:00:00Z",)"
                    R"("output_fields":{}})")}) {
    EXPECT_NE(CheckFalcoPayload(bad), "") << bad;
    EXPECT_EQ(HttpRequest(receiver.port(), "POST", "/", bad).status, 400) << bad;
  }
}

// The built-in pack's findings, native and stateful, come out in the same shape.
TEST_F(FalcoOutputTest, BuiltInPackFindingsAreValidFalcoAlerts) {
  const std::string log = dir_ + "/gen.log";
  Subprocess gen({"/usr/bin/python3", std::string(VIGIL_SOURCE_DIR) + "/bench/vigil-gen",
                  "--events", "600", "--seed", "5", "--out", log});
  ASSERT_EQ(gen.Wait(120s), 0) << gen.err();
  Subprocess replay({VIGIL_BINARY, "replay", "--db", dir_ + "/db", "--format", "falco", log});
  ASSERT_EQ(replay.Wait(180s), 0) << replay.err();
  const std::vector<std::string> alerts = Lines(replay.out());
  ASSERT_GE(alerts.size(), 3u) << replay.out();
  for (const std::string& alert : alerts) EXPECT_EQ(CheckFalcoPayload(alert), "") << alert;
}

std::string Config(const std::string& dir, const std::string& extra) {
  const std::string path = dir + "/vigil.yaml";
  std::ofstream(path) << "db: " << dir << "/db\nlisten: 127.0.0.1:0\ncluster: prod-eu\n" << extra;
  return path;
}

// `vigil serve` with a falco sink: every finding's alert reaches the endpoint, also when the
// endpoint failed first (kept in the outbox and sent again), and the counters say so.
TEST_F(FalcoOutputTest, ServeSinkPostsEveryAlertAtLeastOnce) {
  FalcoReceiver receiver;
  receiver.FailNext(2, 503);
  const std::string config = Config(dir_, "falco:\n  url: " + receiver.url() + "\n  timeout: 2s\n");
  Subprocess serve({VIGIL_BINARY, "serve", "--rules", rules_, "--config", config, log_});
  const uint16_t port = ListeningPort(serve);
  ASSERT_NE(port, 0) << serve.err();
  ASSERT_TRUE(receiver.WaitForAccepted(3, 60s)) << receiver.accepted().size() << " accepted\n"
                                                << serve.err();
  EXPECT_EQ(receiver.failed(), 2);
  EXPECT_TRUE(receiver.invalid().empty());
  std::set<std::string> rules;
  simdjson::dom::parser parser;
  for (const std::string& alert : receiver.accepted()) {
    simdjson::dom::element a = parser.parse(alert);
    rules.insert(std::string(std::string_view(a["rule"])));
    EXPECT_EQ(std::string_view(a["output_fields"]["ka.cluster.name"]), "prod-eu");
  }
  EXPECT_EQ(rules, (std::set<std::string>{"Attach/Exec Pod", "Secret Read"}));
  auto metrics = HttpGet(port, "/metrics");
  EXPECT_NE(metrics.body.find("vigil_falco_sink_posted_total 3\n"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("vigil_falco_sink_failures_total 2\n"), std::string::npos);
  EXPECT_NE(
      serve.ReadStderrUntil("the endpoint answered 503", 30s).find("the endpoint answered 503"),
      std::string::npos)
      << serve.err();
  serve.Signal(SIGTERM);
  EXPECT_EQ(serve.Wait(60s), 0) << serve.err();
  EXPECT_EQ(receiver.accepted().size(), 3u);  // nothing sent twice once accepted
}

// min_severity filters; an endpoint that refuses an alert for good (400) drops it, counted,
// instead of sending it forever.
TEST_F(FalcoOutputTest, ServeSinkFiltersBySeverityAndDropsRefusedAlerts) {
  FalcoReceiver receiver;
  receiver.FailNext(1, 400);
  const std::string config =
      Config(dir_, "falco:\n  url: " + receiver.url() + "\n  min_severity: high\n");
  Subprocess serve({VIGIL_BINARY, "serve", "--rules", rules_, "--config", config, log_});
  const uint16_t port = ListeningPort(serve);
  ASSERT_NE(port, 0) << serve.err();
  // Only Secret Read (ERROR = high) passes the filter, and the endpoint refuses it.
  std::string metrics;
  EXPECT_TRUE(WaitFor(
      [&] {
        metrics = HttpGet(port, "/metrics").body;
        return metrics.find("vigil_falco_sink_rejected_total 1\n") != std::string::npos;
      },
      60s));
  EXPECT_NE(metrics.find("vigil_falco_sink_rejected_total 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("vigil_falco_sink_posted_total 0\n"), std::string::npos) << metrics;
  const std::string why = "dropped, refused for good: the endpoint answered 400";
  EXPECT_NE(serve.ReadStderrUntil(why, 30s).find(why), std::string::npos) << serve.err();
  serve.Signal(SIGTERM);
  EXPECT_EQ(serve.Wait(60s), 0) << serve.err();
  EXPECT_TRUE(receiver.accepted().empty());
}

TEST_F(FalcoOutputTest, BadSinkConfigIsRefusedWithTheReason) {
  for (const auto& [extra, why] : std::vector<std::pair<std::string, std::string>>{
           {"falco:\n  url: ftp://x/\n", "must start with http:// or https://"},
           {"falco:\n  url: http://:80/\n", "no host"},
           {"falco:\n  url: http://h:8x/\n", "bad port"},
           {"falco:\n  url: http://h/\n  min_severity: loud\n", "must be info, low, medium"},
           {"falco:\n  uri: http://h/\n", "unknown key 'falco.uri'"}}) {
    const std::string config = Config(dir_, extra);
    Subprocess serve({VIGIL_BINARY, "serve", "--config", config});
    EXPECT_EQ(serve.Wait(60s), 2) << extra << serve.err();
    EXPECT_NE(serve.err().find(why), std::string::npos) << extra << serve.err();
  }
}

}  // namespace
