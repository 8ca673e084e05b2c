// threading.Event: a flag that threads can wait for.
#pragma once

#include <atomic>
#include <cstdint>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/condvar.hpp"
#include "pyconc/threading/lock.hpp"

namespace pyconc::threading {

/// A flag that starts false (Python's threading.Event): set() makes it true and wakes
/// every waiter; clear() makes it false; wait() blocks until it is true.
///
///     threading::Event ready;
///     threading::Thread t([&] { prepare(); ready.set(); });
///     t.start();
///     if (!ready.wait(5s)) throw std::runtime_error("not ready in time");
///
/// wait() returns true when the flag was set during the wait, even when another thread
/// cleared it again before the waiter ran (as Python's does); false on timeout.
///
/// Thread safety: every member may be called from any thread.
///
/// Memory ordering: everything done before set() is visible after a wait() or
/// is_set() that returned true.
///
/// Differences from Python: none.
class Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  /// Whether the flag is true.
  bool is_set() const noexcept { return flag_.load(std::memory_order_acquire); }
  /// Sets the flag and wakes every waiter.
  void set() PYCONC_EXCLUDES(mutex_);
  /// Resets the flag to false.
  void clear() PYCONC_EXCLUDES(mutex_);
  /// Blocks until the flag is true; returns true.
  bool wait() PYCONC_EXCLUDES(mutex_) { return wait_until(detail::Deadline::never()); }
  /// Blocks until the flag is true or `timeout` passed (negative: does not wait);
  /// returns the flag (true if it was set while waiting).
  bool wait(Seconds timeout) PYCONC_EXCLUDES(mutex_);

  /// Internal: wait with a precomputed deadline.
  bool wait_until(const detail::Deadline& deadline) PYCONC_EXCLUDES(mutex_);

 private:
  Lock mutex_;
  detail::CondVar cv_;
  std::atomic<bool> flag_{false};          // written under mutex_, read lock-free
  std::uint64_t generation_ PYCONC_GUARDED_BY(mutex_) = 0;  // counts set() calls
};

}  // namespace pyconc::threading
