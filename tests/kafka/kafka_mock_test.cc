// Smoke test of the test broker: vigil-kafka-mock carries produce, group consume and commits
// exactly, answers every command with ok/error, and shuts down cleanly on SIGTERM.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "kafka_mock_process.h"
#include "kafka_test_util.h"

namespace vigil::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kPartitions = 8;

std::vector<KafkaTestMessage> Messages(int n) {
  std::vector<KafkaTestMessage> out;
  for (int i = 0; i < n; ++i) {
    KafkaTestMessage m;
    m.key = "pod-" + std::to_string(i % 100);
    m.value = "event-" + std::to_string(i);
    m.headers = {{"cluster", "c-" + std::to_string(i % 3)}};
    out.push_back(std::move(m));
  }
  return out;
}

TEST(KafkaMockTest, GroupConsumesExactlyWhatWasProduced) {
  KafkaMockProcess mock;  // 3 brokers, audit:8
  ASSERT_TRUE(mock.ok()) << mock.error();
  EXPECT_EQ(std::count(mock.bootstrap().begin(), mock.bootstrap().end(), ','), 2)
      << mock.bootstrap();

  auto produced = ProduceMessages(mock.bootstrap(), "audit", Messages(1000), 30s);
  ASSERT_TRUE(produced.ok()) << produced.status().ToString();
  std::vector<int64_t> per_partition(kPartitions, 0);
  std::map<std::string, int32_t> partition_of_key;
  std::map<std::string, std::pair<int32_t, int64_t>> where;  // value -> (partition, offset)
  for (const KafkaTestMessage& m : *produced) {
    ASSERT_GE(m.partition, 0);
    ASSERT_LT(m.partition, kPartitions);
    ++per_partition[static_cast<size_t>(m.partition)];
    auto [it, fresh] = partition_of_key.emplace(*m.key, m.partition);
    EXPECT_EQ(it->second, m.partition) << "key " << *m.key << " moved partitions";
    where[*m.value] = {m.partition, m.offset};
  }
  for (int p = 0; p < kPartitions; ++p) EXPECT_GT(per_partition[p], 0) << "partition " << p;

  auto high = HighWatermarks(mock.bootstrap(), "audit", 10s);
  ASSERT_TRUE(high.ok()) << high.status().ToString();
  EXPECT_EQ(*high, per_partition);

  auto consumed = ConsumeGroup(mock.bootstrap(), "smoke", "audit", 1000, 60s);
  ASSERT_TRUE(consumed.ok()) << consumed.status().ToString();
  std::vector<int64_t> consumed_per_partition(kPartitions, 0);
  std::set<std::pair<int32_t, int64_t>> seen;
  for (const KafkaTestMessage& m : *consumed) {
    ASSERT_TRUE(m.value.has_value());
    ++consumed_per_partition[static_cast<size_t>(m.partition)];
    EXPECT_TRUE(seen.insert({m.partition, m.offset}).second) << "duplicate " << *m.value;
    auto it = where.find(*m.value);
    ASSERT_NE(it, where.end()) << *m.value;
    EXPECT_EQ(it->second, std::make_pair(m.partition, m.offset)) << *m.value;
    int i = std::stoi(m.value->substr(6));
    EXPECT_EQ(m.key, "pod-" + std::to_string(i % 100));
    ASSERT_EQ(m.headers.size(), 1u);
    EXPECT_EQ(m.headers[0], std::make_pair(std::string("cluster"), "c-" + std::to_string(i % 3)));
  }
  EXPECT_EQ(consumed_per_partition, per_partition);

  auto committed = CommittedOffsets(mock.bootstrap(), "smoke", "audit", 10s);
  ASSERT_TRUE(committed.ok()) << committed.status().ToString();
  EXPECT_EQ(*committed, per_partition);
  EXPECT_EQ(mock.Terminate(), 0);
}

TEST(KafkaMockTest, CommandsAnswerOkOrErrorAndTheMockKeepsServing) {
  KafkaMockProcess mock;
  ASSERT_TRUE(mock.ok()) << mock.error();
  for (const char* good : {"ping",
                           "down 2",
                           "up 2",
                           "down -1",
                           "up -1",
                           "rtt 1 50",
                           "rtt -1 0",
                           "leader audit 0 2",
                           "leader audit 7 -1",
                           "errors Produce 2 NOT_LEADER_FOR_PARTITION",
                           "errors 1 1 REQUEST_TIMED_OUT",
                           "errors JoinGroup 2 NOT_COORDINATOR REBALANCE_IN_PROGRESS",
                           "errors heartbeat 1 27",
                           "clear-errors Produce",
                           "clear-errors 1",
                           "clear-errors JoinGroup",
                           "clear-errors Heartbeat",
                           "topic other 2",
                           "coordinator smoke 3",
                           "topic-error other NO_ERROR"}) {
    EXPECT_TRUE(mock.Command(good)) << good << ": " << mock.last_reply();
  }
  for (const char* bad :
       {"", "frobnicate", "ping extra", "down", "down 0", "down 4", "down x", "rtt 1 -5",
        "leader nosuch 0 1", "leader audit 8 1", "leader audit 0 9",
        "errors Bogus 1 NOT_COORDINATOR", "errors Fetch 1 NO_SUCH_ERROR",
        "errors Fetch 3 NOT_COORDINATOR REQUEST_TIMED_OUT", "errors Fetch 0 NOT_COORDINATOR",
        "topic other 2", "topic bad/name 1", "topic x 0"}) {
    EXPECT_FALSE(mock.Command(bad)) << "'" << bad << "' answered ok";
    EXPECT_EQ(mock.last_reply().rfind("error ", 0), 0u) << bad << ": " << mock.last_reply();
  }
  EXPECT_FALSE(mock.Command("ping\nping"));  // refused before anything is sent
  EXPECT_TRUE(mock.Command("ping")) << mock.error();
  EXPECT_EQ(PartitionCount(mock.bootstrap(), "other", 10s).value(), 2);
  EXPECT_EQ(mock.Terminate(), 0);
}

TEST(KafkaMockTest, LeaderCommandMovesALeaderAndDownDoesNot) {
  KafkaMockProcess mock;
  ASSERT_TRUE(mock.ok()) << mock.error();
  ASSERT_TRUE(mock.Command("leader audit 0 1")) << mock.error();
  ASSERT_EQ(PartitionLeaders(mock.bootstrap(), "audit", 10s).value()[0], 1);

  ASSERT_TRUE(mock.Command("down 1")) << mock.error();
  // Metadata (from brokers 2 and 3) still names broker 1: the mock never fails over.
  EXPECT_EQ(PartitionLeaders(mock.bootstrap(), "audit", 10s).value()[0], 1);
  std::vector<KafkaTestMessage> one(1);
  one[0].value = "while-down";
  one[0].partition = 0;
  auto lost = ProduceMessages(mock.bootstrap(), "audit", one, 2s);
  EXPECT_FALSE(lost.ok()) << "produce to a partition whose leader is down succeeded";

  ASSERT_TRUE(mock.Command("up 1")) << mock.error();
  one[0].value = "after-up";
  auto sent = ProduceMessages(mock.bootstrap(), "audit", one, 30s);
  ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  EXPECT_EQ((*sent)[0].partition, 0);
  EXPECT_EQ(HighWatermarks(mock.bootstrap(), "audit", 10s).value()[0], 1);
  EXPECT_EQ(mock.Terminate(), 0);
}

TEST(KafkaMockTest, InjectedProduceErrorsReachTheProducer) {
  KafkaMockProcess mock;
  ASSERT_TRUE(mock.ok()) << mock.error();
  std::vector<KafkaTestMessage> one(1);
  one[0].value = "v";
  one[0].partition = 3;

  // Retriable: librdkafka retries through them and the message lands once.
  ASSERT_TRUE(mock.Command("errors Produce 3 NOT_LEADER_FOR_PARTITION")) << mock.error();
  auto retried = ProduceMessages(mock.bootstrap(), "audit", one, 30s);
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ((*retried)[0].offset, 0);

  // Permanent: surfaces in the delivery report, and nothing is appended.
  ASSERT_TRUE(mock.Command("errors Produce 1 TOPIC_AUTHORIZATION_FAILED")) << mock.error();
  auto refused = ProduceMessages(mock.bootstrap(), "audit", one, 30s);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("TOPIC_AUTHORIZATION_FAILED"), std::string::npos)
      << refused.status().ToString();
  EXPECT_EQ(HighWatermarks(mock.bootstrap(), "audit", 10s).value()[3], 1);
  EXPECT_EQ(mock.Terminate(), 0);
}

TEST(KafkaMockTest, EofOnStdinStopsTheMockOnlyWithExitOnEof) {
  KafkaMockProcess keeps;
  ASSERT_TRUE(keeps.ok()) << keeps.error();
  keeps.CloseStdin();
  // Proving a non-event needs a window: the mock must still be up a second after EOF.
  EXPECT_EQ(keeps.Wait(1s), -1);
  EXPECT_TRUE(PartitionCount(keeps.bootstrap(), "audit", 10s).ok());
  EXPECT_EQ(keeps.Terminate(), 0);

  KafkaMockOptions exit_on_eof;
  exit_on_eof.extra_args = {"--exit-on-eof"};
  KafkaMockProcess exits(exit_on_eof);
  ASSERT_TRUE(exits.ok()) << exits.error();
  ASSERT_TRUE(exits.Command("ping"));
  exits.CloseStdin();
  EXPECT_EQ(exits.Wait(30s), 0);
  EXPECT_FALSE(exits.Command("ping"));
}

TEST(KafkaMockTest, UsageErrorsExitTwoWithAMessage) {
  const std::string err_path =
      ::testing::TempDir() + "/kafka_mock_usage_" + std::to_string(getpid()) + ".err";
  std::vector<KafkaMockOptions> bad(4);
  bad[0].brokers = 0;
  bad[1].topics = {"audit"};
  bad[2].topics = {"bad/name:2"};
  bad[3].extra_args = {"--bogus"};
  for (KafkaMockOptions& o : bad) {
    o.stderr_path = err_path;
    KafkaMockProcess mock(o);
    EXPECT_FALSE(mock.ok());
    EXPECT_EQ(mock.Wait(30s), 2) << mock.error();
    std::ifstream in(err_path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text.rfind("vigil-kafka-mock: ", 0), 0u) << text;
  }
  std::filesystem::remove(err_path);
}

}  // namespace
}  // namespace vigil::testing
