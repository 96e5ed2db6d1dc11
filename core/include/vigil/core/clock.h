// Clock: the only way Vigil code reads the wall clock, so tests can inject time. Detection never
// uses it (invariant 1: event time); it is for logs, metrics and server timeouts.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace vigil {

class Clock {
 public:
  virtual ~Clock() = default;
  // Microseconds since the Unix epoch.
  virtual int64_t NowMicros() const = 0;
};
using ClockPtr = std::shared_ptr<Clock>;

// The real clock. Thread-safe.
class SystemClock final : public Clock {
 public:
  int64_t NowMicros() const override;
  static ClockPtr Default();
};

// A clock that only moves when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t now_us = 0) : now_us_(now_us) {}
  int64_t NowMicros() const override { return now_us_.load(); }
  void Set(int64_t now_us) { now_us_.store(now_us); }
  void Advance(int64_t delta_us) { now_us_.fetch_add(delta_us); }

 private:
  std::atomic<int64_t> now_us_;
};

}  // namespace vigil
