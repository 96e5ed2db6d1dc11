// OutboxRelay: sends what durable checkpoints left in the store's outbox (core/outbox.h) to the
// outside (the findings and dead-letter Kafka topics) and removes each message once it is
// acknowledged. A message is removed only after its acknowledgement, so a crash, a broker that
// is down or a delivery that failed means it is sent again later: at least once, never lost
// while the store keeps it. At most max_in_flight messages are queued at a time, so memory is
// bounded whatever the backlog; the store bounds the backlog itself (StoreOptions::max_outbox).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "vigil/core/outbox.h"
#include "vigil/core/status.h"
#include "vigil/ingest/kafka_producer.h"

namespace vigil::app {

struct OutboxRelayOptions {
  size_t max_in_flight = 10'000;                  // messages queued and not yet acknowledged
  size_t read_bytes = size_t{16} << 20;           // at most this much read from the store at once
  std::chrono::milliseconds poll_interval{1000};  // the outbox is read at least this often
  std::chrono::milliseconds retry_backoff{1000};  // after a failed delivery or a full queue
  // The channels this relay sends (default: all). Entries of other channels are left in place
  // for another relay over the same outbox, so an outside that is slow or down (a Falco
  // endpoint) holds up only its own relay, never the Kafka topics'.
  std::function<bool(std::string_view channel)> handles;
};

class OutboxRelay {
 public:
  enum class Publish {
    kQueued,    // on its way: Delivered(seq, ...) will follow
    kBusy,      // cannot take it now (queue full): the relay tries again after retry_backoff
    kNoRoute,   // no destination for its channel (not configured): removed, and counted
    kRejected,  // refused for good (too large, ...): removed, and counted
  };
  // Hands one message to the outside. Called on the relay's thread.
  using PublishFn = std::function<Publish(const OutboxEntry&)>;

  OutboxRelay(Outbox* outbox, PublishFn publish, OutboxRelayOptions options = {});
  ~OutboxRelay();  // Stop(), then removes what was acknowledged meanwhile

  OutboxRelay(const OutboxRelay&) = delete;
  OutboxRelay& operator=(const OutboxRelay&) = delete;

  void Start();
  // A checkpoint wrote new messages: read them now rather than at the next poll_interval.
  void Notify();
  // The outside's answer for a message that was kQueued; any thread.
  void Delivered(uint64_t seq, bool ok);
  // Waits until the outbox is empty and nothing is in flight, or `timeout`; true when empty.
  bool Drain(std::chrono::milliseconds timeout);
  // Stops the thread (what is in flight stays in the outbox until a Delivered is reported, or
  // until the next run sends it again).
  void Stop();

  struct Stats {
    uint64_t sent = 0;        // acknowledged and removed
    uint64_t failed = 0;      // deliveries that failed (each is sent again)
    uint64_t busy = 0;        // times the outside could not take a message
    uint64_t unroutable = 0;  // removed: no destination for their channel
    uint64_t rejected = 0;    // removed: refused for good by the outside
    uint64_t trim_errors = 0;
    uint64_t in_flight = 0;
  };
  Stats stats() const;
  // Prometheus lines: vigil_outbox_* (with the store's kept and dropped counts).
  void RenderMetrics(std::string* out) const;

 private:
  void Loop();
  // Reads and publishes what is kept after next_, up to max_in_flight. Requires !mu_.
  void Pump();
  // Removes seqs from the store (sent: they were acknowledged, for the stats).
  void Trim(std::vector<uint64_t> seqs, bool sent);

  Outbox* outbox_;
  PublishFn publish_;
  OutboxRelayOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                       // guarded by mu_
  bool notified_ = false;                   // guarded by mu_
  std::unordered_set<uint64_t> in_flight_;  // guarded by mu_
  std::vector<uint64_t> delivered_;         // guarded by mu_: acknowledged, not yet removed
  // Failed deliveries and when to send them again; guarded by mu_.
  std::map<uint64_t, std::chrono::steady_clock::time_point> retry_;
  Stats stats_;  // guarded by mu_

  // Only on the relay's thread.
  uint64_t next_ = 0;  // the lowest seq not yet read
  std::chrono::steady_clock::time_point busy_until_{};
  std::thread thread_;
};

// Where a channel's messages go on Kafka. The producer's on_delivery must call
// OutboxRelay::Delivered(tag, ok): the tag is the message's seq.
struct KafkaOutboxRoute {
  std::string_view channel;  // kOutboxFindings, kOutboxDeadLetters
  ingest::KafkaProducer* producer;
  std::string topic;
};
// A PublishFn producing each message to its channel's route, keyed by the message key; a channel
// with no route is kNoRoute, a full producer queue kBusy, a record librdkafka refuses
// (too large, ...) kRejected.
OutboxRelay::PublishFn PublishToKafka(std::vector<KafkaOutboxRoute> routes);

}  // namespace vigil::app
