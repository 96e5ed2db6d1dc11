// OutboxRelay (see outbox_relay.h).
#include "vigil/app/outbox_relay.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "vigil/core/histogram.h"

namespace vigil::app {

OutboxRelay::OutboxRelay(Outbox* outbox, PublishFn publish, OutboxRelayOptions options)
    : outbox_(outbox), publish_(std::move(publish)), options_(options) {
  options_.max_in_flight = std::max<size_t>(options_.max_in_flight, 1);
}

OutboxRelay::~OutboxRelay() {
  Stop();
  std::vector<uint64_t> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done.swap(delivered_);
  }
  Trim(std::move(done), true);
}

void OutboxRelay::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void OutboxRelay::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    notified_ = true;
  }
  cv_.notify_all();
}

void OutboxRelay::Delivered(uint64_t seq, bool ok) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_flight_.erase(seq) == 0) return;  // not ours (or reported twice)
    if (ok) {
      delivered_.push_back(seq);
    } else {
      ++stats_.failed;
      retry_[seq] = std::chrono::steady_clock::now() + options_.retry_backoff;
    }
  }
  cv_.notify_all();
}

bool OutboxRelay::Drain(std::chrono::milliseconds timeout) {
  Notify();
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    return outbox_->OutboxCount() == 0 && in_flight_.empty() && delivered_.empty();
  });
}

void OutboxRelay::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

OutboxRelay::Stats OutboxRelay::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats s = stats_;
  s.in_flight = in_flight_.size() + retry_.size();
  return s;
}

void OutboxRelay::RenderMetrics(std::string* out) const {
  const Stats s = stats();
  auto metric = [&](const char* name, const char* type, const char* help, uint64_t v) {
    AppendMetricHeader(name, type, help, out);
    out->append(name).append(" ").append(std::to_string(v)).append("\n");
  };
  metric("vigil_outbox_sent_total", "counter", "Outbox messages acknowledged by Kafka and removed.",
         s.sent);
  metric("vigil_outbox_delivery_failures_total", "counter",
         "Outbox deliveries that failed (each is sent again).", s.failed);
  metric("vigil_outbox_busy_total", "counter", "Times Kafka's producer queue could not take one.",
         s.busy);
  metric("vigil_outbox_unroutable_total", "counter",
         "Outbox messages removed because their topic is not configured.", s.unroutable);
  metric("vigil_outbox_rejected_total", "counter",
         "Outbox messages removed because Kafka refused them for good.", s.rejected);
  metric("vigil_outbox_trim_errors_total", "counter", "Failed removals of acknowledged messages.",
         s.trim_errors);
  metric("vigil_outbox_in_flight", "gauge", "Outbox messages sent and not yet acknowledged.",
         s.in_flight);
  metric("vigil_outbox_kept", "gauge", "Messages kept in the store's outbox.",
         outbox_->OutboxCount());
  metric("vigil_outbox_dropped_total", "counter",
         "Outbox messages dropped over the outbox bound (outbox.max).", outbox_->OutboxDropped());
}

void OutboxRelay::Loop() {
  pthread_setname_np(pthread_self(), "vigil-outbox");
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    std::vector<uint64_t> done;
    done.swap(delivered_);
    notified_ = false;
    lock.unlock();
    Trim(std::move(done), true);
    Pump();
    lock.lock();
    cv_.notify_all();  // Drain looks again
    // Until the next poll, or sooner when a busy backoff or a retry is due.
    const auto now = std::chrono::steady_clock::now();
    auto wake = now + options_.poll_interval;
    if (busy_until_ > now) wake = std::min(wake, busy_until_);
    for (const auto& [seq, when] : retry_) wake = std::min(wake, std::max(when, busy_until_));
    cv_.wait_until(lock, wake, [&] { return stop_ || notified_ || !delivered_.empty(); });
  }
}

void OutboxRelay::Trim(std::vector<uint64_t> seqs, bool sent) {
  if (seqs.empty()) return;
  Status s = outbox_->TrimOutbox(seqs);
  std::lock_guard<std::mutex> lock(mu_);
  if (s.ok()) {
    if (sent) stats_.sent += seqs.size();
    return;
  }
  // Left in the store: the next run sends them again (at least once).
  ++stats_.trim_errors;
  spdlog::warn("outbox: cannot remove {} delivered messages: {}", seqs.size(), s.message());
}

void OutboxRelay::Pump() {
  const auto now = std::chrono::steady_clock::now();
  if (now < busy_until_) return;
  std::vector<uint64_t> removed;  // unroutable or rejected
  auto hand_over = [&](const OutboxEntry& e) {
    if (options_.handles && !options_.handles(e.message.channel)) return true;  // another's
    if (e.message.channel.empty()) {  // undecodable: nowhere to send it
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.unroutable;
      removed.push_back(e.seq);
      return true;
    }
    {
      // In flight before it is handed over: its acknowledgement may come before publish_
      // returns.
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_.insert(e.seq);
    }
    const Publish r = publish_(e);
    if (r == Publish::kQueued) return true;
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_.erase(e.seq);
    switch (r) {
      case Publish::kQueued:
        break;
      case Publish::kBusy:
        ++stats_.busy;
        busy_until_ = std::chrono::steady_clock::now() + options_.retry_backoff;
        return false;
      case Publish::kNoRoute:
        ++stats_.unroutable;
        break;
      case Publish::kRejected:
        ++stats_.rejected;
        break;
    }
    removed.push_back(e.seq);
    return true;
  };
  // Failed deliveries whose backoff is over, first: they are older than what is unread.
  std::vector<uint64_t> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [seq, when] : retry_) {
      if (when <= now) due.push_back(seq);
    }
  }
  for (uint64_t seq : due) {
    auto got = outbox_->ReadOutbox(seq, 1, options_.read_bytes);
    if (!got.ok()) {
      spdlog::warn("outbox: cannot read: {}", got.status().message());
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      retry_.erase(seq);
    }
    if (got->empty() || got->front().seq != seq) continue;  // dropped past the bound meanwhile
    if (!hand_over(got->front())) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        retry_[seq] = busy_until_;
      }
      Trim(std::move(removed), false);
      return;
    }
  }
  while (true) {
    size_t room = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const size_t busy = in_flight_.size() + retry_.size();
      room = busy < options_.max_in_flight ? options_.max_in_flight - busy : 0;
    }
    if (room == 0) break;
    auto got = outbox_->ReadOutbox(next_, room, options_.read_bytes);
    if (!got.ok()) {
      spdlog::warn("outbox: cannot read: {}", got.status().message());
      break;
    }
    if (got->empty()) break;
    bool stopped = false;
    for (const OutboxEntry& e : *got) {
      if (!hand_over(e)) {
        stopped = true;
        break;
      }
      next_ = e.seq + 1;
    }
    if (stopped) break;
  }
  Trim(std::move(removed), false);
}

OutboxRelay::PublishFn PublishToKafka(std::vector<KafkaOutboxRoute> routes) {
  return [routes = std::move(routes)](const OutboxEntry& e) {
    for (const KafkaOutboxRoute& r : routes) {
      if (r.channel != e.message.channel || r.producer == nullptr) continue;
      switch (r.producer->TryProduce(r.topic, e.message.key, e.message.value, e.seq)) {
        case ingest::KafkaProducer::Queued::kQueued:
          return OutboxRelay::Publish::kQueued;
        case ingest::KafkaProducer::Queued::kFull:
          return OutboxRelay::Publish::kBusy;
        case ingest::KafkaProducer::Queued::kFailed:
          return OutboxRelay::Publish::kRejected;
      }
    }
    return OutboxRelay::Publish::kNoRoute;
  };
}

}  // namespace vigil::app
