// Helpers shared by pyconc's test suites.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace pyconc_test {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// Polls `pred` (yielding between polls) until it is true or `timeout` passes; returns
/// its last value. For observing state that has no waitable signal (e.g. "the other
/// thread is now blocked": n_waiting() == 1) — never a fixed sleep.
inline bool eventually(const std::function<bool()>& pred, std::chrono::duration<double> timeout = 10s) {
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);
  while (!pred()) {
    if (Clock::now() >= deadline) return pred();
    std::this_thread::yield();
  }
  return true;
}

/// Seconds since `start`.
inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// A generous upper bound for "returned promptly" under sanitizers on a loaded 2-core box.
inline constexpr double kPrompt = 5.0;

}  // namespace pyconc_test
