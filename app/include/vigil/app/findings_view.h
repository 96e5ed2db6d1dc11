// FindingsView: one view of every instance's findings. Each instance of a scaled-out group sends
// its findings to the findings topic (keyed by finding id, the whole finding each time); a view
// reads every partition of that topic and keeps the newest version of each finding in a store,
// which the findings API then serves. `vigil serve --role api` runs only this (it consumes no
// audit topics); `kafka.findings_view: true` runs it beside a worker, into a store of its own.
//
// Idempotent: a version is kept only when it is newer than the stored one (a higher count, or the
// same count and a later last_seen), so reading a record twice, or versions out of order, changes
// nothing. What an analyst set (status, note) stays: the store keeps stored triage on Put. The
// view's position in each partition is written in the same store write as the findings it
// covers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "vigil/core/finding.h"
#include "vigil/core/finding_store.h"
#include "vigil/core/state_store.h"
#include "vigil/core/status.h"

namespace vigil::ingest {
class KafkaTopicReader;
}

namespace vigil::app {

struct FindingsViewOptions {
  std::string brokers;
  std::vector<std::pair<std::string, std::string>> properties;
  std::string client_id = "vigil";
  std::string topic;  // the findings topic
  size_t batch = 2000;  // records per store write (at most)
  std::chrono::milliseconds poll{200};
};

// Whether `a` is a newer version of the same finding than `b` (see above).
bool NewerFinding(const Finding& a, const Finding& b);

class FindingsView {
 public:
  // `findings` and `state` are the same store (one write for findings and positions).
  FindingsView(FindingsViewOptions options, FindingStore* findings, StateStore* state);
  ~FindingsView();  // Stop()

  // Finds the topic's partitions and starts reading them from the stored positions (the start
  // of each partition the first time). NotFound when the topic does not exist.
  Status Start(std::chrono::milliseconds timeout);
  void Stop();

  // Records not read yet (from the last look at the high watermarks), and whether the view has
  // read up to them at least once.
  uint64_t lag() const { return lag_.load(); }
  bool caught_up() const { return caught_up_.load(); }
  Status status() const;
  void RenderMetrics(std::string* out) const;

  static std::string PositionKey(std::string_view topic, int32_t partition);

 private:
  void Loop();
  Status Flush();

  FindingsViewOptions options_;
  FindingStore* findings_;
  StateStore* state_;
  std::unique_ptr<ingest::KafkaTopicReader> reader_;
  int partitions_ = 0;
  std::vector<int64_t> next_;     // the reader thread's: per partition, the next offset
  std::vector<bool> moved_;       // positions changed since the last write
  std::vector<Finding> pending_;  // read, not written yet
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> lag_{0};
  std::atomic<bool> caught_up_{false};
  std::atomic<uint64_t> n_records_{0}, n_applied_{0}, n_stale_{0}, n_bad_{0}, n_errors_{0};
  mutable std::mutex mu_;
  Status status_;  // guarded by mu_: the last error
  std::thread thread_;
};

}  // namespace vigil::app
