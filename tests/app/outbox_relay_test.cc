// OutboxRelay over a real RocksDB outbox (temp dir) and a scripted outside: every message is
// published, removed only once acknowledged, published again after a failed delivery, a busy
// outside or a restart; unroutable ones are removed and counted; at most max_in_flight wait.
#include "vigil/app/outbox_relay.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../wait_for.h"
#include "vigil/store/rocksdb_finding_store.h"

namespace vigil::app {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using vigil::testing::WaitFor;

// The outside: records what it was handed; answers as scripted. Waits use its condition
// variable, never a sleep.
class Outside {
 public:
  OutboxRelay::PublishFn Fn() {
    return [this](const OutboxEntry& e) {
      std::lock_guard<std::mutex> lock(mu_);
      OutboxRelay::Publish r = OutboxRelay::Publish::kQueued;
      if (!script_.empty()) {
        r = script_.front();
        script_.pop_front();
      }
      if (r == OutboxRelay::Publish::kQueued) got_.push_back(e);
      ++calls_;
      cv_.notify_all();
      return r;
    };
  }
  void Script(std::deque<OutboxRelay::Publish> answers) {
    std::lock_guard<std::mutex> lock(mu_);
    script_ = std::move(answers);
  }
  // Waits until at least n messages were queued; returns them all.
  std::vector<OutboxEntry> WaitQueued(size_t n, std::chrono::milliseconds timeout = 20s) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return got_.size() >= n; });
    return got_;
  }
  size_t calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<OutboxRelay::Publish> script_;
  std::vector<OutboxEntry> got_;
  size_t calls_ = 0;
};

class OutboxRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vigil-relay-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    store::StoreOptions o;
    o.sync_writes = false;
    auto opened = store::RocksDbFindingStore::Open(dir_, o);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    db_ = std::move(opened).value();
    options_.poll_interval = 50ms;
    options_.retry_backoff = 1ms;
  }
  void TearDown() override {
    db_.reset();
    fs::remove_all(dir_);
  }
  void Write(int from, int to, std::string channel = std::string(kOutboxFindings)) {
    StateCheckpoint cp;
    for (int i = from; i < to; ++i) {
      cp.outbox.push_back({channel, "f" + std::to_string(i), "{\"n\":" + std::to_string(i) + "}"});
    }
    ASSERT_TRUE(db_->Commit(cp).ok());
  }
  static std::vector<std::string> Keys(const std::vector<OutboxEntry>& entries) {
    std::vector<std::string> out;
    for (const auto& e : entries) out.push_back(e.message.key);
    return out;
  }
  static std::vector<std::string> KeysOf(int from, int to) {
    std::vector<std::string> out;
    for (int i = from; i < to; ++i) out.push_back("f" + std::to_string(i));
    return out;
  }

  std::string dir_;
  std::unique_ptr<store::RocksDbFindingStore> db_;
  OutboxRelayOptions options_;
  Outside outside_;
};

TEST_F(OutboxRelayTest, PublishesInOrderAndRemovesOnlyWhatIsAcknowledged) {
  Write(0, 30);
  OutboxRelay relay(db_.get(), outside_.Fn(), options_);
  relay.Start();
  auto got = outside_.WaitQueued(30);
  ASSERT_EQ(Keys(got), KeysOf(0, 30));
  EXPECT_EQ(got[7].message.value, "{\"n\":7}");
  EXPECT_EQ(db_->OutboxCount(), 30u);  // nothing acknowledged yet: all kept
  for (size_t i = 0; i < 20; ++i) relay.Delivered(got[i].seq, true);
  EXPECT_FALSE(relay.Drain(100ms));  // ten still unacknowledged
  EXPECT_EQ(db_->OutboxCount(), 10u);
  for (size_t i = 20; i < 30; ++i) relay.Delivered(got[i].seq, true);
  EXPECT_TRUE(relay.Drain(20s));
  EXPECT_EQ(db_->OutboxCount(), 0u);
  EXPECT_EQ(relay.stats().sent, 30u);
  // New messages after a Notify.
  Write(30, 32);
  relay.Notify();
  got = outside_.WaitQueued(32);
  ASSERT_EQ(got.size(), 32u);
  EXPECT_EQ(got[31].message.key, "f31");
  EXPECT_EQ(outside_.calls(), 32u);  // each published once
}

// Two relays over one outbox, each with its channels: what one leaves is the other's, and an
// outside that is down holds up only its own relay.
TEST_F(OutboxRelayTest, RelaysShareAnOutboxByChannel) {
  Write(0, 5);
  Write(5, 10, std::string(kOutboxFalco));
  Write(10, 15);
  OutboxRelayOptions kafka = options_, falco = options_;
  kafka.handles = [](std::string_view c) { return c != kOutboxFalco; };
  falco.handles = [](std::string_view c) { return c == kOutboxFalco; };
  Outside down;  // the Falco endpoint: queues nothing, always busy
  std::deque<OutboxRelay::Publish> busy(1000, OutboxRelay::Publish::kBusy);
  down.Script(busy);
  OutboxRelay falco_relay(db_.get(), down.Fn(), falco);
  OutboxRelay kafka_relay(db_.get(), outside_.Fn(), kafka);
  falco_relay.Start();
  kafka_relay.Start();
  auto got = outside_.WaitQueued(10);
  std::vector<std::string> want = KeysOf(0, 5);
  for (const std::string& k : KeysOf(10, 15)) want.push_back(k);
  ASSERT_EQ(Keys(got), want);  // the Falco entries are not the Kafka relay's
  for (const OutboxEntry& e : got) kafka_relay.Delivered(e.seq, true);
  ASSERT_TRUE(WaitFor([&] { return db_->OutboxCount() == 5u; }, 20s));
  EXPECT_GT(down.calls(), 0u);  // the Falco relay tried its own
  EXPECT_EQ(kafka_relay.stats().unroutable, 0u);
  kafka_relay.Stop();
  // The endpoint is back: the Falco relay sends and removes its five.
  Outside up;
  OutboxRelay again(db_.get(), up.Fn(), falco);
  falco_relay.Stop();
  again.Start();
  auto sent = up.WaitQueued(5);
  ASSERT_EQ(Keys(sent), KeysOf(5, 10));
  for (const OutboxEntry& e : sent) again.Delivered(e.seq, true);
  EXPECT_TRUE(again.Drain(20s));
  EXPECT_EQ(db_->OutboxCount(), 0u);
}

TEST_F(OutboxRelayTest, FailedDeliveryIsPublishedAgain) {
  Write(0, 3);
  OutboxRelay relay(db_.get(), outside_.Fn(), options_);
  relay.Start();
  auto got = outside_.WaitQueued(3);
  ASSERT_EQ(got.size(), 3u);
  relay.Delivered(got[0].seq, true);
  relay.Delivered(got[1].seq, false);  // failed for good at the outside: sent again
  relay.Delivered(got[2].seq, true);
  got = outside_.WaitQueued(4);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[3].seq, got[1].seq);
  EXPECT_EQ(got[3].message, got[1].message);
  relay.Delivered(got[3].seq, true);
  EXPECT_TRUE(relay.Drain(20s));
  EXPECT_EQ(relay.stats().failed, 1u);
  EXPECT_EQ(relay.stats().sent, 3u);
}

TEST_F(OutboxRelayTest, BusyOutsideIsTriedAgainWithoutLosingOrder) {
  Write(0, 5);
  using P = OutboxRelay::Publish;
  outside_.Script({P::kQueued, P::kBusy, P::kBusy, P::kQueued});
  OutboxRelay relay(db_.get(), outside_.Fn(), options_);
  relay.Start();
  auto got = outside_.WaitQueued(5);
  EXPECT_EQ(Keys(got), KeysOf(0, 5));
  EXPECT_EQ(relay.stats().busy, 2u);
  for (const auto& e : got) relay.Delivered(e.seq, true);
  EXPECT_TRUE(relay.Drain(20s));
}

TEST_F(OutboxRelayTest, UnroutableAndRejectedAreRemovedAndCounted) {
  Write(0, 2, "no-such-channel");
  Write(2, 4);
  using P = OutboxRelay::Publish;
  outside_.Script({P::kNoRoute, P::kNoRoute, P::kRejected, P::kQueued});
  OutboxRelay relay(db_.get(), outside_.Fn(), options_);
  relay.Start();
  auto got = outside_.WaitQueued(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message.key, "f3");
  relay.Delivered(got[0].seq, true);
  EXPECT_TRUE(relay.Drain(20s));
  EXPECT_EQ(relay.stats().unroutable, 2u);
  EXPECT_EQ(relay.stats().rejected, 1u);
  EXPECT_EQ(relay.stats().sent, 1u);
  std::string metrics;
  relay.RenderMetrics(&metrics);
  EXPECT_NE(metrics.find("vigil_outbox_unroutable_total 2\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("vigil_outbox_kept 0\n"), std::string::npos) << metrics;
}

TEST_F(OutboxRelayTest, AtMostMaxInFlightWaitForAnAcknowledgement) {
  Write(0, 25);
  options_.max_in_flight = 10;
  OutboxRelay relay(db_.get(), outside_.Fn(), options_);
  relay.Start();
  auto got = outside_.WaitQueued(10);
  ASSERT_EQ(got.size(), 10u);
  // No more until one is acknowledged: several polls pass without another publish.
  EXPECT_FALSE(relay.Drain(200ms));
  EXPECT_EQ(outside_.calls(), 10u);
  EXPECT_EQ(relay.stats().in_flight, 10u);
  for (const auto& e : got) relay.Delivered(e.seq, true);
  got = outside_.WaitQueued(20);
  ASSERT_EQ(got.size(), 20u);
  EXPECT_EQ(Keys(got), KeysOf(0, 20));
  for (size_t i = 10; i < 20; ++i) relay.Delivered(got[i].seq, true);
  got = outside_.WaitQueued(25);
  for (size_t i = 20; i < 25; ++i) relay.Delivered(got[i].seq, true);
  EXPECT_TRUE(relay.Drain(20s));
  EXPECT_EQ(Keys(got), KeysOf(0, 25));
}

TEST_F(OutboxRelayTest, UnacknowledgedMessagesAreSentAgainByTheNextRelay) {
  Write(0, 4);
  std::vector<OutboxEntry> first;
  {
    OutboxRelay relay(db_.get(), outside_.Fn(), options_);
    relay.Start();
    first = outside_.WaitQueued(4);
    ASSERT_EQ(first.size(), 4u);
    relay.Delivered(first[0].seq, true);
    relay.Stop();  // as if the process died with three in flight
  }
  EXPECT_EQ(db_->OutboxCount(), 3u);
  Outside again;
  auto relay = std::make_unique<OutboxRelay>(db_.get(), again.Fn(), options_);
  relay->Start();
  auto got = again.WaitQueued(3);
  EXPECT_EQ(Keys(got), KeysOf(1, 4));
  for (const auto& e : got) relay->Delivered(e.seq, true);
  EXPECT_TRUE(relay->Drain(20s));
  // An acknowledgement that comes after the relay stopped is applied when it is destroyed.
  Write(4, 5);
  relay->Notify();
  got = again.WaitQueued(4);
  ASSERT_EQ(got.size(), 4u);
  relay->Stop();
  relay->Delivered(got[3].seq, true);
  EXPECT_EQ(db_->OutboxCount(), 1u);
  relay.reset();
  EXPECT_EQ(db_->OutboxCount(), 0u);
}

}  // namespace
}  // namespace vigil::app
