// The system clock.
#include "vigil/core/clock.h"

#include <chrono>

namespace vigil {

int64_t SystemClock::NowMicros() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ClockPtr SystemClock::Default() {
  static ClockPtr clock = std::make_shared<SystemClock>();
  return clock;
}

}  // namespace vigil
