// threading.Semaphore and threading.BoundedSemaphore.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/threading/timeout.hpp"

namespace pyconc::threading {

/// A counting semaphore (Python's threading.Semaphore): acquire() takes one unit,
/// blocking while the count is zero; release(n) adds n units and wakes up to n waiters.
///
///     threading::Semaphore slots(3);      // at most three at a time
///     { std::scoped_lock with(slots); download(); }
///     if (!slots.acquire(true, 1s)) { ... timed out ... }
///
/// Errors: a negative initial value, or release(n) with n < 1, raise ValueError; a count
/// beyond 2^32-1 raises OverflowError.
///
/// Thread safety: every member may be called from any thread.
///
/// Memory ordering: a successful acquire synchronises-with the release that provided
/// its unit.
///
/// Differences from Python: the count is bounded by 2^32-1. A C++ Lockable as well
/// (`lock`/`unlock`/`try_lock`), so `std::scoped_lock with(sem)` is `with sem:`.
class PYCONC_CAPABILITY("semaphore") Semaphore {
 public:
  explicit Semaphore(long long value = 1) : Semaphore(value, false) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  /// Takes one unit, waiting as long as needed; returns true.
  bool acquire() PYCONC_ACQUIRE() { return acquire_until(detail::Deadline::never()); }
  /// blocking=false: takes a unit if one is free, at once.
  bool acquire(bool blocking) PYCONC_TRY_ACQUIRE(true);
  /// Waits at most `timeout` (negative: does not wait); ValueError with blocking=false.
  bool acquire(bool blocking, Seconds timeout) PYCONC_TRY_ACQUIRE(true);
  bool acquire(Seconds timeout) PYCONC_TRY_ACQUIRE(true) { return acquire(true, timeout); }
  /// Adds `n` units (n >= 1) and wakes up to `n` waiters.
  void release(long long n = 1) PYCONC_RELEASE();

  /// The current count (a snapshot; Python's private `_value`).
  long long value() const noexcept { return count_.load(std::memory_order_relaxed); }

  void lock() PYCONC_ACQUIRE() { acquire(); }
  void unlock() PYCONC_RELEASE() { release(); }
  bool try_lock() PYCONC_TRY_ACQUIRE(true) { return acquire(false); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) PYCONC_TRY_ACQUIRE(true) {
    return acquire_until(detail::Deadline::after(d));
  }

  /// Internal: acquire with a precomputed deadline.
  bool acquire_until(const detail::Deadline& deadline) PYCONC_TRY_ACQUIRE(true);

 protected:
  Semaphore(long long value, bool bounded);

 private:
  bool try_take() noexcept;

  std::atomic<std::uint32_t> count_;
  std::atomic<std::uint32_t> sleepers_{0};
  std::uint32_t bound_;  // the most release() may bring the count to
  bool bounded_;
};

/// A semaphore that refuses to be released above its initial value (Python's
/// threading.BoundedSemaphore): such a release raises ValueError("Semaphore released
/// too many times") and changes nothing. Everything else is Semaphore's.
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(long long value = 1) : Semaphore(value, true) {}
};

}  // namespace pyconc::threading
