// ChangelogStandby: a warm copy of the state of the input partitions this instance does not own,
// kept in the local store from the state changelog (`standby_replicas: 1`), so that taking one
// over restores only what was written after the standby's last complete checkpoint.
//
// It reads every changelog partition outside any group and, per stream (input topic and
// partition) not owned here, keeps its records until the stream's next marker; at the marker it
// writes them to the store with the stream's changelog position, marker, input offset and
// watermarks: exactly what a restore would have written. Records after the last marker (a
// checkpoint not complete yet) are never written, so the restore that takes the stream over
// reads them and guards them as it would without a standby.
//
// Ownership. Own() (the consumer thread, in the assignment, before the restore) waits for an
// apply in progress and then leaves the stream alone; Release() (after the revoke, once the
// pipeline's last checkpoint of the stream is durable) follows it again from the store's
// position. Should the pipeline still commit the stream after that (an assignment lost without
// a revoke), the standby sees the store's position move under it and reads the stream again
// from there.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "changelog_format.h"
#include "vigil/core/state_store.h"
#include "vigil/core/status.h"
#include "vigil/ingest/kafka_topic_reader.h"

namespace vigil::ingest::internal {

struct StandbyOptions {
  std::string topic;  // the changelog
  int partitions = 0;
  std::string group;     // the input's consumer group (its offset meta keys)
  size_t batch = 20000;  // entries kept per stream before they are written ahead of the marker
  std::chrono::milliseconds lag_interval{5000};  // how often the lag is measured
};

class ChangelogStandby {
 public:
  ChangelogStandby(StandbyOptions options, std::unique_ptr<KafkaTopicReader> reader,
                   StateStore* store);
  ~ChangelogStandby();  // stops
  ChangelogStandby(const ChangelogStandby&) = delete;
  ChangelogStandby& operator=(const ChangelogStandby&) = delete;

  // Starts following every changelog partition from where the store says it stopped.
  Status Start();
  void Stop();

  // The clusters whose state it wrote since the stream was last owned here (a pipeline that
  // owned them before must not keep what it cached of them).
  std::vector<std::string> Own(const std::string& topic, int32_t partition);
  void Release(const std::string& topic, int32_t partition);

  // Local meta key: the changelog offset the standby resumes partition p of `topic` at.
  static std::string ResumeKey(std::string_view topic, int32_t partition);

  struct Stats {
    uint64_t read = 0;  // every changelog record polled (owned streams' too)
    uint64_t records = 0, bytes = 0, checkpoints = 0, rereads = 0, failures = 0;
    uint64_t streams = 0;  // followed now
    int64_t lag = -1;      // changelog records not read yet (-1: not measured yet)
    bool caught_up = false;
  };
  Stats stats() const;

 private:
  struct Stream {
    std::string topic;
    int32_t partition = 0;
    bool owned = false;
    bool known = false;                       // expected_pos read from the store
    std::optional<std::string> expected_pos;  // the store's PositionKey as last seen or written
    int64_t first_pending = -1;  // changelog offset of the first record kept, -1 none
    ChangelogEntries pending;
    std::set<std::string> applied_clusters;  // written since it was last owned
  };

  void Run();
  Stream* StreamOf(std::string_view topic, int32_t partition);  // mu_ held
  void OnRecord(const KafkaReadRecord& r);                      // mu_ held
  void ApplyMarker(Stream* s, const ChangelogRecord& c, int64_t offset);  // mu_ held
  void RereadFrom(int32_t partition, int64_t offset);  // mu_ held
  int64_t ResumeOffset(int32_t partition) const;       // mu_ held
  void MeasureLag();

  StandbyOptions o_;
  std::unique_ptr<KafkaTopicReader> reader_;
  StateStore* store_;

  mutable std::mutex mu_;
  std::map<std::pair<std::string, int32_t>, std::unique_ptr<Stream>> streams_;
  std::vector<int64_t> next_;          // per changelog partition: the next offset to read
  std::map<int32_t, int64_t> reread_;  // partitions to read again from an earlier offset
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool failed_ = false;  // mu_: a store write failed (the loop backs off)
  std::atomic<uint64_t> n_read_{0}, n_records_{0}, n_bytes_{0}, n_checkpoints_{0}, n_rereads_{0},
      n_failures_{0};
  std::atomic<int64_t> lag_{-1};
};

}  // namespace vigil::ingest::internal
