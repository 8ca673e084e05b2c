// threading.Lock: a primitive lock, not owned by any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>  // std::scoped_lock / std::unique_lock: C++'s `with lock:`
#include <optional>

#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#define PYCONC_HAVE_SINGLE_THREADED 1
#endif

#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/futex.hpp"
#include "pyconc/threading/timeout.hpp"

namespace pyconc::threading {

/// A primitive lock (Python's threading.Lock): locked or unlocked, owned by nobody, so
/// any thread may release it, and a release of an unlocked lock raises RuntimeError.
///
///     threading::Lock lock;
///     {
///       std::scoped_lock guard(lock);  // `with lock:`
///       counter += 1;
///     }
///     if (lock.acquire(0.5s)) { ...; lock.release(); }
///
/// Thread safety: every member may be called from any thread.
///
/// Memory ordering: a successful acquire synchronises-with the release that unlocked
/// it (acquire/release semantics), exactly as std::mutex.
///
/// Implementation: one 32-bit futex word; the uncontended acquire and release are one
/// atomic instruction each, inline (plain loads and stores while the process has a
/// single thread, as glibc's own mutex does). Contended acquires spin briefly, then
/// sleep in the kernel; a release wakes one sleeper, and no other until that one has
/// run, so a busy lock costs few system calls. Not FIFO (neither is Python's).
///
/// Differences from Python: none in behaviour. It is also a C++ Lockable and
/// TimedLockable (`lock`, `unlock`, `try_lock`, `try_lock_for`, `try_lock_until`), so
/// `std::scoped_lock`/`std::unique_lock` stand for `with lock:`. Not copyable or movable
/// (a Python name bound to a Lock is a reference; share it by reference or pointer).
class PYCONC_CAPABILITY("mutex") Lock {
 public:
  Lock() noexcept = default;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  /// Blocks until the lock is acquired; returns true (Python: acquire()).
  bool acquire() PYCONC_ACQUIRE() {
    lock();
    return true;
  }
  /// acquire(blocking): with blocking=false, returns at once whether it got the lock.
  bool acquire(bool blocking) PYCONC_TRY_ACQUIRE(true) {
    if (blocking) return acquire();
    return try_lock();
  }
  /// acquire(blocking, timeout): timeout -1s waits forever, as in Python; other negative
  /// timeouts, or a timeout with blocking=false, raise ValueError.
  bool acquire(bool blocking, Seconds timeout) PYCONC_TRY_ACQUIRE(true);
  /// acquire(timeout=t): the same as acquire(true, t).
  bool acquire(Seconds timeout) PYCONC_TRY_ACQUIRE(true) { return acquire(true, timeout); }

  /// Releases the lock (from any thread); RuntimeError if it is not locked.
  void release() PYCONC_RELEASE() {
    if (single_threaded()) {
      // Nobody can sleep on the lock: clear it whole (bits copied by fork() included).
      if ((state_.load(std::memory_order_relaxed) & kLocked) == 0) release_slow();
      state_.store(0, std::memory_order_relaxed);
      return;
    }
    std::uint32_t expected = kLocked;
    if (!state_.compare_exchange_strong(expected, 0, std::memory_order_release, std::memory_order_relaxed))
      release_slow();
  }

  /// Whether the lock is held by anybody (a snapshot).
  bool locked() const noexcept { return (state_.load(std::memory_order_relaxed) & kLocked) != 0; }

  // C++ Lockable / TimedLockable.
  void lock() PYCONC_ACQUIRE() {
    if (!try_lock()) lock_slow(detail::Deadline::never());
  }
  void unlock() PYCONC_RELEASE() { release(); }
  bool try_lock() PYCONC_TRY_ACQUIRE(true) {
    if (single_threaded()) {
      // No other thread exists, and creating one synchronises with us: no atomics needed.
      std::uint32_t s = state_.load(std::memory_order_relaxed);
      if (s & kLocked) return false;
      state_.store(s | kLocked, std::memory_order_relaxed);
      return true;
    }
    std::uint32_t expected = 0;
    if (state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire, std::memory_order_relaxed))
      return true;
    return (expected & kLocked) == 0 && try_lock_slow();
  }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) PYCONC_TRY_ACQUIRE(true) {
    return try_lock() || lock_slow(detail::Deadline::after(d));
  }
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& t) PYCONC_TRY_ACQUIRE(true) {
    return try_lock_for(t - Clock::now());
  }

  /// Internal: acquire with a precomputed deadline (used by Condition and friends).
  bool acquire_until(const detail::Deadline& deadline) PYCONC_TRY_ACQUIRE(true) {
    return try_lock() || lock_slow(deadline);
  }

 private:
  static bool single_threaded() noexcept {
#ifdef PYCONC_HAVE_SINGLE_THREADED
    return __libc_single_threaded != 0;
#else
    return false;
#endif
  }
  bool lock_slow(const detail::Deadline& deadline);
  bool try_lock_slow() noexcept;
  void release_slow();

  // The futex word: kLocked, plus kParked (threads may sleep in the kernel) and kWoken
  // (a sleeper was woken and has not yet re-checked: releases need not wake another).
  static constexpr std::uint32_t kLocked = 1;
  static constexpr std::uint32_t kParked = 2;
  static constexpr std::uint32_t kWoken = 4;
  std::atomic<std::uint32_t> state_{0};
};

}  // namespace pyconc::threading
