// End to end: dead letters committed through the store API are listed by the real `vigil
// deadletters` binary, newest first, as a terminal-safe table or as JSON.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <stdlib.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "subprocess.h"
#include "vigil/store/rocksdb_finding_store.h"

namespace vigil {
namespace {

namespace fs = std::filesystem;
using vigil::testing::Subprocess;
using namespace std::chrono_literals;

class DeadLettersCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vigil-dlq-e2e-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    db_ = dir_ + "/db";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes the dead letters with a checkpoint, then closes the store (the CLI opens it).
  void WriteDeadLetters(std::vector<DeadLetter> dls) {
    auto opened = store::RocksDbFindingStore::Open(db_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    StateCheckpoint cp;
    cp.dead_letters = std::move(dls);
    Status s = (*opened)->Commit(cp);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  static DeadLetter Dl(int64_t received_us, std::string source, std::string origin,
                       std::string record) {
    DeadLetter dl;
    dl.received_us = received_us;
    dl.source = std::move(source);
    dl.origin = std::move(origin);
    dl.cluster = "prod";
    dl.error = "malformed JSON";
    SetDeadLetterRecord(record, &dl);
    return dl;
  }

  std::string dir_;
  std::string db_;
};

TEST_F(DeadLettersCliTest, ListsNewestFirstAsTableAndJson) {
  SystemClock clock;
  const int64_t now = clock.NowMicros();  // the store hides entries past the TTL (7 days)
  DeadLetter file = Dl(now - 3'000'000, "file", "/var/log/audit.log", "{\"kind\":\"Event\",\"au");
  file.line = 17;
  file.offset = 4096;
  // A hostile record: terminal escapes (7-bit CSI, and 8-bit CSI as UTF-8 and as a raw byte)
  // in its head, its origin and its error.
  DeadLetter kafka = Dl(now - 2'000'000, "kafka", "audit\x1b]0;owned\x07",
                        std::string("\x1b[2J\x1b[31mred\xc2\x9b"
                                    "1m\x9b"
                                    "1m\0tail",
                                    24));
  kafka.partition = 3;
  kafka.offset = 99;
  kafka.error = "bad \x1b[5m byte";
  DeadLetter newest = Dl(now - 1'000'000, "file", "/var/log/other.log", "not json at all");
  WriteDeadLetters({file, kafka, newest});

  Subprocess table({VIGIL_BINARY, "deadletters", "--db", db_});
  ASSERT_EQ(table.Wait(60s), 0) << table.err();
  const std::string& out = table.out();
  EXPECT_NE(out.find("RECEIVED (UTC)"), std::string::npos) << out;
  EXPECT_NE(out.find("line 17 off 4096"), std::string::npos) << out;
  EXPECT_NE(out.find("p3 off 99"), std::string::npos) << out;
  EXPECT_NE(out.find("3 dead letters (3 kept)"), std::string::npos) << out;
  const size_t other = out.find("/var/log/other.log");
  const size_t topic = out.find("audit?]0;owned?");
  const size_t audit = out.find("/var/log/audit.log");
  ASSERT_NE(other, std::string::npos) << out;
  ASSERT_NE(topic, std::string::npos) << out;
  ASSERT_NE(audit, std::string::npos) << out;
  EXPECT_LT(other, topic);
  EXPECT_LT(topic, audit);
  EXPECT_NE(out.find("?[2J?[31mred?1m?1m?tail"), std::string::npos) << out;
  for (char c : out) {
    const auto b = static_cast<unsigned char>(c);
    EXPECT_FALSE((b < 0x20 && c != '\n') || b == 0x7f || b == 0x9b) << "control byte " << int{b};
  }
  EXPECT_EQ(out.find("\xc2\x9b"), std::string::npos) << "C1 CSI reached the terminal";

  Subprocess jsonl(
      {VIGIL_BINARY, "deadletters", "--db", db_, "--format", "jsonl", "--source", "file"});
  ASSERT_EQ(jsonl.Wait(60s), 0) << jsonl.err();
  simdjson::dom::parser parser;
  std::istringstream lines(jsonl.out());
  std::string line;
  std::vector<std::string> origins;
  while (std::getline(lines, line)) {
    simdjson::dom::element e;
    ASSERT_EQ(parser.parse(line).get(e), simdjson::SUCCESS) << line;
    EXPECT_EQ(std::string(e["source"].get_string().value()), "file");
    origins.emplace_back(e["origin"].get_string().value());
  }
  EXPECT_EQ(origins, (std::vector<std::string>{"/var/log/other.log", "/var/log/audit.log"}));

  Subprocess json({VIGIL_BINARY, "deadletters", "--db", db_, "--format", "json", "--limit", "1"});
  ASSERT_EQ(json.Wait(60s), 0) << json.err();
  simdjson::dom::element arr;
  ASSERT_EQ(parser.parse(json.out()).get(arr), simdjson::SUCCESS) << json.out();
  ASSERT_EQ(arr.get_array().size(), 1u);
  EXPECT_EQ(std::string(arr.at(0)["origin"].get_string().value()), "/var/log/other.log");

  Subprocess all_kafka(
      {VIGIL_BINARY, "deadletters", "--db", db_, "--format", "json", "--source", "kafka"});
  ASSERT_EQ(all_kafka.Wait(60s), 0) << all_kafka.err();
  ASSERT_EQ(parser.parse(all_kafka.out()).get(arr), simdjson::SUCCESS) << all_kafka.out();
  ASSERT_EQ(arr.get_array().size(), 1u);
  simdjson::dom::element k = arr.at(0);
  EXPECT_EQ(k["partition"].get_int64().value(), 3);
  EXPECT_EQ(std::string(k["head"].get_string().value()).substr(0, 4), "\x1b[2J");
  std::string_view b64;
  EXPECT_EQ(k["head_base64"].get_string().get(b64), simdjson::SUCCESS) << "raw 0x9b is not UTF-8";
}

TEST_F(DeadLettersCliTest, EmptyStoreListsNothing) {
  WriteDeadLetters({});
  Subprocess table({VIGIL_BINARY, "deadletters", "--db", db_});
  ASSERT_EQ(table.Wait(60s), 0) << table.err();
  EXPECT_NE(table.out().find("0 dead letters (0 kept)"), std::string::npos) << table.out();
}

TEST_F(DeadLettersCliTest, MissingDbExitsTwoAndBadUsageToo) {
  Subprocess missing({VIGIL_BINARY, "deadletters", "--db", dir_ + "/no-such-db"});
  EXPECT_EQ(missing.Wait(60s), 2);
  EXPECT_NE(missing.err().find("no store at " + dir_ + "/no-such-db"), std::string::npos)
      << missing.err();
  EXPECT_FALSE(fs::exists(dir_ + "/no-such-db")) << "listing must not create a store";
  Subprocess bad_format({VIGIL_BINARY, "deadletters", "--db", dir_, "--format", "xml"});
  EXPECT_EQ(bad_format.Wait(60s), 2);
  Subprocess bad_limit({VIGIL_BINARY, "deadletters", "--db", dir_, "--limit", "many"});
  EXPECT_EQ(bad_limit.Wait(60s), 2);
}

TEST_F(DeadLettersCliTest, LockedStoreExitsOne) {
  WriteDeadLetters({Dl(SystemClock().NowMicros(), "file", "/a", "x")});
  auto holder = store::RocksDbFindingStore::Open(db_);  // as `vigil serve` would
  ASSERT_TRUE(holder.ok()) << holder.status().ToString();
  Subprocess locked({VIGIL_BINARY, "deadletters", "--db", db_});
  EXPECT_EQ(locked.Wait(60s), 1);
  EXPECT_NE(locked.err().find("LOCK"), std::string::npos) << locked.err();
}

}  // namespace
}  // namespace vigil
