// threading.RLock: a reentrant lock, owned by the thread that acquired it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "pyconc/threading/lock.hpp"

namespace pyconc::threading {

class Condition;

/// A reentrant lock (Python's threading.RLock): the owning thread may acquire it again;
/// it is free when the owner has released it as often as it acquired it. Only the owner
/// may release it (RuntimeError otherwise).
///
///     threading::RLock rlock;
///     std::scoped_lock outer(rlock);
///     std::scoped_lock inner(rlock);  // same thread: fine
///
/// Thread safety: every member may be called from any thread.
///
/// Memory ordering: as Lock, for the outermost acquire and the final release.
///
/// Differences from Python: none in behaviour; a C++ Lockable and TimedLockable as well.
/// Not copyable or movable.
class PYCONC_CAPABILITY("mutex") RLock {
 public:
  RLock() noexcept = default;
  RLock(const RLock&) = delete;
  RLock& operator=(const RLock&) = delete;

  bool acquire() PYCONC_ACQUIRE() {
    lock();
    return true;
  }
  bool acquire(bool blocking) PYCONC_TRY_ACQUIRE(true);
  bool acquire(bool blocking, Seconds timeout) PYCONC_TRY_ACQUIRE(true);
  bool acquire(Seconds timeout) PYCONC_TRY_ACQUIRE(true) { return acquire(true, timeout); }
  /// Releases one level; RuntimeError("cannot release un-acquired lock") when the
  /// calling thread does not own it.
  void release() PYCONC_RELEASE();
  /// Whether any thread holds it (a snapshot).
  bool locked() const noexcept { return lock_.locked(); }

  void lock() PYCONC_ACQUIRE() { acquire_until(detail::Deadline::never()); }
  void unlock() PYCONC_RELEASE() { release(); }
  bool try_lock() PYCONC_TRY_ACQUIRE(true) { return acquire(false); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) PYCONC_TRY_ACQUIRE(true) {
    return acquire_until(detail::Deadline::after(d));
  }
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& t) PYCONC_TRY_ACQUIRE(true) {
    return try_lock_for(t - Clock::now());
  }

  /// Internal: acquire with a precomputed deadline.
  bool acquire_until(const detail::Deadline& deadline) PYCONC_TRY_ACQUIRE(true);

 private:
  friend class Condition;
  // Condition's hooks (Python's _is_owned, _release_save, _acquire_restore).
  bool is_owned() const noexcept;
  std::uint64_t release_save() PYCONC_NO_THREAD_SAFETY_ANALYSIS;
  void acquire_restore(std::uint64_t count) PYCONC_NO_THREAD_SAFETY_ANALYSIS;

  Lock lock_;
  std::atomic<unsigned long> owner_{0};  // get_ident() of the owner, 0 when free
  std::uint64_t count_ = 0;              // touched only by the owner
};

}  // namespace pyconc::threading
