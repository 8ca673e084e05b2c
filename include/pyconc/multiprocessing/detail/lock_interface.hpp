// Every spelling of "acquire" that multiprocessing's locks offer, derived from the one
// member each lock writes: acquire_until(Deadline). And LockAccess, the narrow door
// through which this base and Condition reach a lock's internals (acquire_until and
// Condition's hooks), which the lock classes keep private.
//
//   acquire() / acquire(block) / acquire(block, timeout) / acquire(timeout)
//   lock() / try_lock() / try_lock_for(d) / try_lock_until(t)
//        │  multiprocessing's timeout rule (TimeoutRule::multiprocessing)
//        ▼
//   Derived::acquire_until(Deadline)          unlock() ──► Derived::release()
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/timeout.hpp"

namespace pyconc::multiprocessing::detail {

/// The internals of the lock classes, for the lock interface and Condition only.
struct LockAccess {
  template <class L>
  static bool acquire_until(L& lock, const pyconc::detail::Deadline& deadline) PYCONC_NO_THREAD_SAFETY_ANALYSIS {
    return lock.acquire_until(deadline);
  }
  // Condition's hooks (Python's _is_owned, _release_save, _acquire_restore).
  template <class L>
  static bool is_owned(const L& lock) noexcept {
    return lock.is_owned();
  }
  template <class L>
  static std::uint64_t release_save(L& lock) PYCONC_NO_THREAD_SAFETY_ANALYSIS {
    return lock.release_save();
  }
  template <class L>
  static void acquire_restore(L& lock, std::uint64_t saved) PYCONC_NO_THREAD_SAFETY_ANALYSIS {
    lock.acquire_restore(saved);
  }
};

/// The public acquire/Lockable members of Lock, RLock, Semaphore, AnyLock, Condition,
/// Value and Array. `Derived` has a private `bool acquire_until(const Deadline&)` (befriending
/// LockAccess) and a public `void release()`.
template <class Derived>
class PYCONC_CAPABILITY("mutex") LockInterface {
 public:
  /// Blocks until acquired; returns true.
  bool acquire() PYCONC_ACQUIRE() { return until(pyconc::detail::Deadline::never()); }
  /// acquire(block): with block=false, returns at once whether it got the lock.
  bool acquire(bool block) PYCONC_TRY_ACQUIRE(true) { return until(deadline(block, std::nullopt)); }
  /// acquire(block, timeout): a negative timeout counts as 0; with block=false the
  /// timeout is ignored (both as Python's multiprocessing).
  bool acquire(bool block, Seconds timeout) PYCONC_TRY_ACQUIRE(true) { return until(deadline(block, timeout)); }
  bool acquire(Seconds timeout) PYCONC_TRY_ACQUIRE(true) { return until(deadline(true, timeout)); }

  // C++'s Lockable and TimedLockable: std::scoped_lock, std::unique_lock.
  void lock() PYCONC_ACQUIRE() { until(pyconc::detail::Deadline::never()); }
  void unlock() PYCONC_RELEASE() PYCONC_NO_THREAD_SAFETY_ANALYSIS { static_cast<Derived&>(*this).release(); }
  bool try_lock() PYCONC_TRY_ACQUIRE(true) { return until(deadline(false, std::nullopt)); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) PYCONC_TRY_ACQUIRE(true) {
    return until(deadline(true, std::chrono::duration_cast<Seconds>(d)));
  }
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& t) PYCONC_TRY_ACQUIRE(true) {
    using Steady = pyconc::detail::Deadline::Clock;
    if constexpr (std::is_same_v<Clock, Steady>)
      return until(pyconc::detail::Deadline::at(std::chrono::ceil<Steady::duration>(t)));
    else
      return until(deadline(true, std::chrono::duration_cast<Seconds>(t - Clock::now())));
  }

 protected:
  LockInterface() = default;

 private:
  static pyconc::detail::Deadline deadline(bool block, std::optional<Seconds> timeout) {
    return pyconc::detail::deadline_for(pyconc::detail::TimeoutRule::multiprocessing, block, timeout);
  }
  bool until(const pyconc::detail::Deadline& d) PYCONC_NO_THREAD_SAFETY_ANALYSIS {
    return LockAccess::acquire_until(static_cast<Derived&>(*this), d);
  }
};

}  // namespace pyconc::multiprocessing::detail
