// Helpers shared by pyconc's test suites.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <utility>

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

/// Whether kernel thread `tid` of this process is asleep in a futex wait — and, given
/// an object, waiting on a word inside its `size` bytes (it really blocked on that
/// object). Read from /proc/self/task/<tid>/syscall: the way to know "the other thread
/// is now blocked" without sleeping and hoping.
inline bool asleep_in_futex(long tid, const void* object = nullptr, std::size_t size = 0) {
  if (tid == 0) return false;
  std::ifstream file("/proc/self/task/" + std::to_string(tid) + "/syscall");
  long number = -1;
  std::string addr_text, op_text;
  if (!(file >> number) || number != SYS_futex) return false;  // "running" or another call
  if (!(file >> addr_text >> op_text)) return false;
  int cmd = static_cast<int>(std::stoull(op_text, nullptr, 16)) & FUTEX_CMD_MASK;
  if (cmd != FUTEX_WAIT && cmd != FUTEX_WAIT_BITSET) return false;
  if (object == nullptr) return true;
  auto addr = static_cast<std::uintptr_t>(std::stoull(addr_text, nullptr, 16));
  auto begin = reinterpret_cast<std::uintptr_t>(object);
  return addr >= begin && addr < begin + size;
}

/// Seconds since `start`.
inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// The message of the exception of type E that `f` throws; "" when it throws none (any
/// other exception escapes, and the test fails on it). For checking Python's message
/// beside Python's exception type.
template <class E, class F>
std::string message_of(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

/// A generous upper bound for "returned promptly" under sanitizers on a loaded 2-core box.
inline constexpr double kPrompt = 5.0;

}  // namespace pyconc_test
