// End to end: the real `vigil` binary replays a generated log with labelled attacks into
// RocksDB, then `vigil serve` answers over loopback HTTP with the same findings.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "subprocess.h"

namespace vigil {
namespace {

namespace fs = std::filesystem;
using vigil::testing::HttpGet;
using vigil::testing::HttpRequest;
using vigil::testing::Subprocess;
using namespace std::chrono_literals;

class EndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vigil-e2e-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs bench/vigil-gen; returns the labels (auditID -> rule id).
  std::map<std::string, std::string> Generate(const std::string& out, int events) {
    Subprocess gen({"/usr/bin/python3", std::string(VIGIL_SOURCE_DIR) + "/bench/vigil-gen",
                    "--events", std::to_string(events), "--stages", "both", "--seed", "3", "--out",
                    out, "--labels", dir_ + "/labels.jsonl"});
    EXPECT_EQ(gen.Wait(120s), 0) << gen.err();
    std::map<std::string, std::string> labels;
    simdjson::dom::parser parser;
    std::ifstream in(dir_ + "/labels.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      simdjson::dom::element e = parser.parse(line);
      labels[std::string(e["auditID"].get_string().value())] =
          std::string(e["rule_id"].get_string().value());
    }
    return labels;
  }

  std::string dir_;
};

TEST_F(EndToEndTest, ReplayThenServeFindings) {
  const std::string log = dir_ + "/audit.log";
  auto labels = Generate(log, 3000);
  ASSERT_EQ(labels.size(), 5u);
  // A truncated line in the middle of the file must be reported and skipped, nothing else lost.
  { std::ofstream(log, std::ios::app) << "{\"kind\":\"Event\",\"auditID\":\"trunc\n"; }
  Subprocess gen2({"/usr/bin/python3", std::string(VIGIL_SOURCE_DIR) + "/bench/vigil-gen",
                   "--events", "10", "--seed", "9", "--attacks", "0", "--out", dir_ + "/tail.log"});
  ASSERT_EQ(gen2.Wait(60s), 0);
  {
    std::ifstream tail(dir_ + "/tail.log");
    std::ofstream(log, std::ios::app) << tail.rdbuf();
  }

  const std::string db = dir_ + "/db";
  Subprocess replay(
      {VIGIL_BINARY, "replay", log, "--db", db, "--cluster", "e2e", "--format", "jsonl"});
  ASSERT_EQ(replay.Wait(300s), 0) << replay.err();
  EXPECT_NE(replay.err().find("6010 events parsed, 1 malformed"), std::string::npos)
      << replay.err();
  EXPECT_NE(replay.err().find("audit.log:6001"), std::string::npos) << replay.err();

  // Every labelled attack is in the printed findings.
  std::set<std::string> found_rules;
  size_t printed = 0;
  {
    simdjson::dom::parser parser;
    std::istringstream in(replay.out());
    std::string line;
    std::set<std::string> evidence;
    while (std::getline(in, line)) {
      simdjson::dom::element f = parser.parse(line);
      EXPECT_EQ(std::string(f["cluster"].get_string().value()), "e2e");
      for (auto e : f["evidence"].get_array()) evidence.insert(std::string(e.get_string().value()));
      found_rules.insert(std::string(f["rule_id"].get_string().value()));
      ++printed;
    }
    for (const auto& [audit_id, rule] : labels) {
      EXPECT_TRUE(evidence.count(audit_id)) << rule << " missed " << audit_id;
      EXPECT_TRUE(found_rules.count(rule)) << rule;
    }
  }

  // Replaying the same file again is idempotent: the store keeps one finding per id.
  Subprocess again(
      {VIGIL_BINARY, "replay", log, "--db", db, "--cluster", "e2e", "--format", "jsonl"});
  ASSERT_EQ(again.Wait(300s), 0) << again.err();

  // serve reads its settings from a YAML file given after the subcommand.
  const std::string config = dir_ + "/vigil.yaml";
  std::ofstream(config) << "db: " << db << "\nlisten: 127.0.0.1:0\nlog: {level: warn}\n";
  Subprocess serve({VIGIL_BINARY, "serve", "--config", config});
  std::string out = serve.ReadStdoutUntil("\n", 60s);
  size_t at = out.find("listening on 127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << out << serve.err();
  uint16_t port = static_cast<uint16_t>(std::stoi(out.substr(at + 23)));

  auto health = HttpGet(port, "/healthz");
  EXPECT_EQ(health.status, 200);
  auto list = HttpGet(port, "/v1/findings?limit=1000&cluster=e2e");
  ASSERT_EQ(list.status, 200) << list.body;
  simdjson::dom::parser parser;
  simdjson::dom::element page = parser.parse(list.body);
  std::set<std::string> ids, rules;
  for (auto f : page["findings"].get_array()) {
    ids.insert(std::string(f["id"].get_string().value()));
    rules.insert(std::string(f["rule_id"].get_string().value()));
  }
  EXPECT_EQ(rules, found_rules);
  // The second replay added nothing: as many findings as the first run printed, each count 1.
  EXPECT_EQ(ids.size(), printed);
  for (auto f : page["findings"].get_array()) EXPECT_EQ(f["count"].get_uint64().value(), 1u);

  // Walk the real store's opaque cursor over HTTP, two at a time: every finding exactly once.
  std::vector<std::string> walked;
  std::string cursor;
  for (int pages = 0; pages < 1000; ++pages) {
    auto r = HttpGet(port, "/v1/findings?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(r.status, 200) << r.body;
    simdjson::dom::element p = parser.parse(r.body);
    for (auto f : p["findings"].get_array()) walked.emplace_back(f["id"].get_string().value());
    std::string_view next;
    if (p["next_cursor"].get_string().get(next) != simdjson::SUCCESS || next.empty()) break;
    cursor = std::string(next);
  }
  EXPECT_EQ(std::set<std::string>(walked.begin(), walked.end()), ids);
  EXPECT_EQ(walked.size(), ids.size());
  EXPECT_EQ(HttpGet(port, "/v1/findings?limit=2&cursor=not-a-cursor").status, 400);

  std::string first = *ids.begin();
  auto one = HttpGet(port, "/v1/findings/" + first);
  EXPECT_EQ(one.status, 200);
  EXPECT_NE(one.body.find(first), std::string::npos);
  EXPECT_EQ(HttpGet(port, "/v1/findings?severity=bogus").status, 400);
  auto by_rule = HttpGet(port, "/v1/findings?rule=k8s.exec_into_pod");
  EXPECT_EQ(by_rule.status, 200);
  EXPECT_NE(by_rule.body.find("k8s.exec_into_pod"), std::string::npos);
  EXPECT_EQ(by_rule.body.find("k8s.privileged_pod"), std::string::npos);
  EXPECT_EQ(HttpGet(port, "/metrics").status, 200);

  serve.Signal(SIGTERM);
  EXPECT_EQ(serve.Wait(60s), 0) << serve.err();
}

// `vigil serve PATH` ingests while serving: /readyz turns 200 once the files are in the store,
// /metrics counts what was read, and --log-json makes every log line a JSON object.
TEST_F(EndToEndTest, ServeIngestsFilesAndCountsThem) {
  const std::string log = dir_ + "/audit.log";
  Generate(log, 400);
  {
    std::ofstream(log, std::ios::app)
        << "{\"kind\":\"Event\",\"auditID\":\"x\"}\n{\"kind\":\"Event\"\n";
  }
  Subprocess serve({VIGIL_BINARY, "--log-json", "serve", log, "--db", dir_ + "/db", "--listen",
                    "127.0.0.1:0", "--cluster", "c7"});
  std::string out = serve.ReadStdoutUntil("\n", 60s);
  size_t at = out.find("listening on 127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << out << serve.err();
  uint16_t port = static_cast<uint16_t>(std::stoi(out.substr(at + 23)));
  std::string err = serve.ReadStderrUntil("ingested", 120s);
  ASSERT_NE(err.find("ingested 800 events (2 malformed"), std::string::npos) << err;
  EXPECT_EQ(HttpGet(port, "/readyz").status, 200);
  auto metrics = HttpGet(port, "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("vigil_events_parsed_total 800\n"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("vigil_events_malformed_total 2\n"), std::string::npos);
  auto list = HttpGet(port, "/v1/findings?cluster=c7&limit=1000");
  EXPECT_NE(list.body.find("k8s.privileged_pod"), std::string::npos) << list.body;
  simdjson::dom::parser parser;
  size_t served = parser.parse(list.body)["findings"].get_array().size();
  EXPECT_GE(served, 5u);  // at least one finding per injected attack
  EXPECT_NE(metrics.body.find("vigil_findings_total " + std::to_string(served) + "\n"),
            std::string::npos)
      << metrics.body;

  serve.Signal(SIGINT);
  EXPECT_EQ(serve.Wait(60s), 0);
  // Every stderr line is one JSON object, even the ones quoting hostile input.
  std::istringstream lines(serve.err());
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    simdjson::dom::element e;
    ASSERT_EQ(parser.parse(line).get(e), simdjson::SUCCESS) << line;
    EXPECT_TRUE(e["msg"].is_string()) << line;
    ++n;
  }
  EXPECT_GE(n, 3);
}

// A pipeline that fails every time it runs: restarted with backoff (restart.backoff), then after
// restart.max_failures failures in a row the server exits 1 and says why.
TEST_F(EndToEndTest, ServeExitsOneWhenThePipelineKeepsFailing) {
  const std::string log = dir_ + "/audit.log";
  Generate(log, 50);
  const std::string config = dir_ + "/vigil.yaml";
  std::ofstream(config) << "db: " << dir_ << "/db\nlisten: 127.0.0.1:0\n"
                        << "restart: {max_failures: 3, backoff: 10ms}\n";
  Subprocess serve({"/usr/bin/env", "VIGIL_TEST_THROW_AFTER_EVENTS=5", "VIGIL_TEST_THROW_RUNS=1000",
                    VIGIL_BINARY, "serve", log, "--config", config});
  EXPECT_EQ(serve.Wait(120s), 1) << serve.err();
  const std::string err = serve.err();
  EXPECT_NE(err.find("file ingest failed (1 of 3 in a row)"), std::string::npos) << err;
  EXPECT_NE(err.find("file ingest failed (2 of 3 in a row)"), std::string::npos) << err;
  EXPECT_NE(err.find("vigil: file ingest failed 3 times in a row, last: pipeline: test failure"),
            std::string::npos)
      << err;
}

// Rules from --rules files; POST /v1/rules/reload and SIGHUP swap them; a bad file is refused
// with its file:line:col and the running rules stay.
TEST_F(EndToEndTest, RulesReloadKeepsGoodRulesOnBadFile) {
  const std::string rules = dir_ + "/rules.yaml";
  auto write_rules = [&](const std::string& text) { std::ofstream(rules) << text; };
  write_rules(
      "- rule: test.exec\n  severity: high\n  attack: [T1609]\n"
      "  condition: objectRef.subresource = exec\n  output: exec by {user.username} on "
      "{cluster}\n");
  Subprocess serve(
      {VIGIL_BINARY, "serve", "--rules", rules, "--db", dir_ + "/db", "--listen", "127.0.0.1:0"});
  std::string out = serve.ReadStdoutUntil("\n", 60s);
  size_t at = out.find("listening on 127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << out << serve.err();
  uint16_t port = static_cast<uint16_t>(std::stoi(out.substr(at + 23)));

  auto ok = HttpRequest(port, "POST", "/v1/rules/reload");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_NE(ok.body.find("\"rules\":1"), std::string::npos) << ok.body;

  write_rules("- rule: test.exec\n  condition: objectRef.subresource = = exec\n");
  auto bad = HttpRequest(port, "POST", "/v1/rules/reload");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("rules.yaml:2:"), std::string::npos) << bad.body;
  EXPECT_EQ(HttpGet(port, "/healthz").status, 200);  // still serving, old rules active

  serve.Signal(SIGHUP);  // a bad file on SIGHUP is logged, never fatal
  std::string err = serve.ReadStderrUntil("SIGHUP: rules reload failed", 60s);
  EXPECT_NE(err.find("rules.yaml:2:"), std::string::npos) << err;
  EXPECT_EQ(HttpGet(port, "/healthz").status, 200);
  serve.Signal(SIGTERM);
  EXPECT_EQ(serve.Wait(60s), 0) << serve.err();

  // A bad rules file at start is a usage error.
  Subprocess start({VIGIL_BINARY, "replay", dir_ + "/db", "--rules", rules});
  EXPECT_EQ(start.Wait(60s), 2);
  EXPECT_NE(start.err().find("rules.yaml:2:"), std::string::npos) << start.err();
}

TEST_F(EndToEndTest, ParseOnlyRunsNoRules) {
  const std::string log = dir_ + "/audit.log";
  Generate(log, 200);
  Subprocess replay({VIGIL_BINARY, "replay", log, "--parse-only", "--format", "jsonl"});
  ASSERT_EQ(replay.Wait(120s), 0) << replay.err();
  EXPECT_EQ(replay.out(), "");
  EXPECT_NE(replay.err().find("400 events parsed, 0 malformed"), std::string::npos) << replay.err();
  EXPECT_NE(replay.err().find("; 0 findings;"), std::string::npos) << replay.err();
}

TEST_F(EndToEndTest, BadUsageExitsTwo) {
  Subprocess no_args({VIGIL_BINARY, "replay"});
  EXPECT_EQ(no_args.Wait(30s), 2);
  Subprocess bad_flag({VIGIL_BINARY, "replay", "--no-such-flag", "x"});
  EXPECT_EQ(bad_flag.Wait(30s), 2);
  Subprocess missing({VIGIL_BINARY, "replay", dir_ + "/does-not-exist.log"});
  EXPECT_EQ(missing.Wait(30s), 2);
  Subprocess bad_format({VIGIL_BINARY, "replay", "--format", "xml", dir_});
  EXPECT_EQ(bad_format.Wait(30s), 2);
  Subprocess bad_workers({VIGIL_BINARY, "replay", "--workers", "65", dir_});
  EXPECT_EQ(bad_workers.Wait(30s), 2);
  EXPECT_NE(bad_workers.err().find("--workers"), std::string::npos) << bad_workers.err();
  const std::string log = dir_ + "/one.log";
  Generate(log, 5);
  Subprocess bad_only({VIGIL_BINARY, "replay", log, "--only", "k8s.exec_into_pod,no.such.rule"});
  EXPECT_EQ(bad_only.Wait(30s), 2);
  EXPECT_NE(bad_only.err().find("no rule with id 'no.such.rule'"), std::string::npos)
      << bad_only.err();
  Subprocess help({VIGIL_BINARY, "--help"});
  EXPECT_EQ(help.Wait(30s), 0);
  EXPECT_NE(help.out().find("replay"), std::string::npos);
  EXPECT_NE(help.out().find("serve"), std::string::npos);
}

TEST_F(EndToEndTest, EmptyAndCorruptGzipAreReportedNotFatal) {
  std::ofstream(dir_ + "/a-empty.log").close();
  std::ofstream(dir_ + "/b-corrupt.log.gz") << "\x1f\x8b\x08\x00garbage-not-deflate";
  Generate(dir_ + "/c-good.log", 50);
  fs::remove(dir_ + "/labels.jsonl");
  Subprocess replay({VIGIL_BINARY, "replay", dir_, "--format", "json"});
  ASSERT_EQ(replay.Wait(120s), 0) << replay.err();
  EXPECT_NE(replay.err().find("a-empty.log"), std::string::npos) << replay.err();
  EXPECT_NE(replay.err().find("b-corrupt.log.gz"), std::string::npos) << replay.err();
  EXPECT_NE(replay.err().find("100 events parsed"), std::string::npos) << replay.err();
}

}  // namespace
}  // namespace vigil
