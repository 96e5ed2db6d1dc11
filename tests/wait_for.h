// WaitFor: a test's wait for a condition another thread or process brings about.
#pragma once

#include <poll.h>

#include <chrono>
#include <functional>

namespace vigil::testing {

// Looks at pred every 20 ms until it holds (true) or `timeout` passed (false).
inline bool WaitFor(const std::function<bool()>& pred, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    pollfd none{};
    poll(&none, 0, 20);  // a pause between two looks, not a wait for the condition
  }
  return true;
}

}  // namespace vigil::testing
