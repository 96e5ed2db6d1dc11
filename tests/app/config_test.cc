#include "vigil/app/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace vigil::app {
namespace {

std::string WriteTemp(const std::string& name, const std::string& text) {
  auto path = std::filesystem::path(::testing::TempDir()) / name;
  std::ofstream(path) << text;
  return path.string();
}

TEST(ConfigTest, DefaultsNeedNoFile) {
  Config c;
  EXPECT_EQ(c.db_dir, "./vigil-data");
  EXPECT_EQ(c.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.max_event_bytes, 1u << 20);
}

TEST(ConfigTest, FileOverridesDefaults) {
  Config c;
  auto path = WriteTemp("ok.yaml",
                        "db: /tmp/x\ncluster: prod-eu\nlog: {level: debug, json: true}\n"
                        "limits: {max_event_bytes: 4096}\napi: {threads: 4, token: s3cret}\n");
  ASSERT_TRUE(LoadConfigFile(path, &c).ok());
  EXPECT_EQ(c.db_dir, "/tmp/x");
  EXPECT_EQ(c.cluster, "prod-eu");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_TRUE(c.log_json);
  EXPECT_EQ(c.max_event_bytes, 4096u);
  EXPECT_EQ(c.api_threads, 4);
  EXPECT_EQ(c.api_token, "s3cret");
}

TEST(ConfigTest, EmptyFileKeepsDefaults) {
  Config c;
  ASSERT_TRUE(LoadConfigFile(WriteTemp("empty.yaml", ""), &c).ok());
  EXPECT_EQ(c.cluster, "default");
}

TEST(ConfigTest, ErrorsNameTheKeyAndLine) {
  Config c;
  Status s = LoadConfigFile(WriteTemp("typo.yaml", "db: /x\nclustr: a\n"), &c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("typo.yaml:2:1"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("clustr"), std::string::npos);

  s = LoadConfigFile(WriteTemp("type.yaml", "api: {threads: many}\n"), &c);
  EXPECT_NE(s.message().find("api.threads"), std::string::npos) << s.message();

  s = LoadConfigFile(WriteTemp("bad.yaml", "db: [unclosed\n"), &c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("bad.yaml:"), std::string::npos) << s.message();

  s = LoadConfigFile(WriteTemp("lvl.yaml", "log: {level: loud}\n"), &c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);

  s = LoadConfigFile("/nonexistent/vigil.yaml", &c);
  EXPECT_EQ(s.code(), StatusCode::kIoError);
}

TEST(ConfigTest, StateSection) {
  Config c;
  auto path = WriteTemp("state.yaml",
                        "state:\n  allowed_lateness: 10m\n  dedup_retention: 2h\n"
                        "  learning_period: 1h\n  cache_bytes: 8388608\n"
                        "  checkpoint_events: 1000\n");
  ASSERT_TRUE(LoadConfigFile(path, &c).ok());
  EXPECT_EQ(c.allowed_lateness_us, int64_t{600} * 1'000'000);
  EXPECT_EQ(c.dedup_retention_us, int64_t{7200} * 1'000'000);
  EXPECT_EQ(c.learning_override_us, int64_t{3600} * 1'000'000);
  EXPECT_EQ(c.state_cache_bytes, 8u << 20);
  EXPECT_EQ(c.checkpoint_events, 1000u);

  struct Bad {
    const char* yaml;
    const char* needle;
  } bad[] = {
      {"state: {allowed_lateness: soon}\n", "'state.allowed_lateness' must be a duration"},
      {"state: {learning_period: 5}\n", "'state.learning_period' must be a duration"},
      {"state: {cache_bytes: lots}\n", "state.cache_bytes"},
      {"state: {cache_bytes: 1024}\n", "at least 1048576"},
      {"state: {checkpoint_events: 0}\n", "checkpoint_events must be at least 1"},
      {"state: {windows: 3}\n", "unknown key 'state.windows'"},
      {"state: 3\n", "'state' must be a mapping"},
  };
  for (const Bad& b : bad) {
    Config d;
    Status st = LoadConfigFile(WriteTemp("bad-state.yaml", b.yaml), &d);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << b.yaml;
    EXPECT_NE(st.message().find(b.needle), std::string::npos) << st.message();
  }
}

TEST(ConfigTest, Workers) {
  Config c;
  ASSERT_TRUE(LoadConfigFile(WriteTemp("workers.yaml", "workers: 4\n"), &c).ok());
  EXPECT_EQ(c.workers, 4);
  EXPECT_EQ(EffectiveWorkers(4), 4);
  Config automatic;
  EXPECT_EQ(automatic.workers, 0);  // the default: one per core
  ASSERT_TRUE(LoadConfigFile(WriteTemp("auto.yaml", "workers: 0\n"), &automatic).ok());
  EXPECT_GE(EffectiveWorkers(0), 1);
  EXPECT_LE(EffectiveWorkers(0), kAutoMaxWorkers);
  for (const char* yaml : {"workers: 65\n", "workers: -1\n"}) {
    Config d;
    Status st = LoadConfigFile(WriteTemp("bad-workers.yaml", yaml), &d);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << yaml;
    EXPECT_NE(st.message().find("workers must be in 0..64"), std::string::npos) << st.message();
  }
  Config e;
  Status st = LoadConfigFile(WriteTemp("typo-workers.yaml", "workers: many\n"), &e);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("workers"), std::string::npos) << st.message();
}

TEST(ConfigTest, ParseListen) {
  std::string a;
  uint16_t p = 0;
  ASSERT_TRUE(ParseListen("127.0.0.1:8080", &a, &p).ok());
  EXPECT_EQ(a, "127.0.0.1");
  EXPECT_EQ(p, 8080);
  ASSERT_TRUE(ParseListen("[::1]:0", &a, &p).ok());
  EXPECT_EQ(a, "::1");
  EXPECT_EQ(p, 0);
  ASSERT_TRUE(ParseListen(":9000", &a, &p).ok());
  EXPECT_EQ(a, "0.0.0.0");
  EXPECT_FALSE(ParseListen("localhost", &a, &p).ok());
  EXPECT_FALSE(ParseListen("1.2.3.4:99999", &a, &p).ok());
  EXPECT_FALSE(ParseListen("1.2.3.4:80x", &a, &p).ok());
  EXPECT_FALSE(ParseListen("localhost:8080", &a, &p).ok());
  EXPECT_FALSE(ParseListen("999.1.1.1:80", &a, &p).ok());
}

}  // namespace
}  // namespace vigil::app
