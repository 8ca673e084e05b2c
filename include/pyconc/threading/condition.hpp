// threading.Condition: wait for a notification, over a Lock, an RLock or any lock.
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/threading/detail/wait_for.hpp"
#include "pyconc/threading/lock.hpp"
#include "pyconc/threading/rlock.hpp"

namespace pyconc::threading {

/// Anything Condition can wrap: Python's duck-typed lock (acquire/release).
template <class L>
concept ConditionLock = requires(L& l, bool b, Seconds t) {
  { l.acquire(b) } -> std::convertible_to<bool>;
  { l.acquire(b, t) } -> std::convertible_to<bool>;
  l.release();
};

/// A condition variable (Python's threading.Condition): threads wait() for a notify()
/// while the associated lock is released, and hold the lock again when wait returns.
///
///     threading::Condition cv;           // over its own RLock, as Python's default
///     std::deque<int> items;
///     // consumer
///     { std::scoped_lock with(cv); cv.wait_for([&] { return !items.empty(); }); ... }
///     // producer
///     { std::scoped_lock with(cv); items.push_back(1); cv.notify(); }
///
/// notify(n) wakes exactly n waiters (fewer if fewer wait), oldest first, as Python
/// does; a wait that timed out but was notified before it took the lock back counts as
/// notified (returns true), so no notification is lost. wait/notify without holding
/// the lock raise RuntimeError.
///
/// Thread safety: every member may be called from any thread; wait/notify require the
/// lock, as in Python.
///
/// Memory ordering: that of the underlying lock.
///
/// Differences from Python: the lock passed in is referenced, not owned: it must outlive
/// the Condition. `wait_for(pred)` returns what `pred` returned, as Python does. A C++
/// Lockable as well (`std::scoped_lock with(cv)` is `with cv:`).
class PYCONC_CAPABILITY("mutex") Condition {
 public:
  /// A Condition over a new RLock of its own.
  Condition();
  /// A Condition over `lock`, which must outlive it.
  explicit Condition(Lock& lock);
  explicit Condition(RLock& lock);
  template <ConditionLock L>
    requires(!std::same_as<L, Lock> && !std::same_as<L, RLock> && !std::same_as<L, Condition>)
  explicit Condition(L& lock) : lock_(&lock), ops_(&generic_ops<L>) {}

  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  // The underlying lock's acquire/release (Python: cond.acquire(...)/cond.release()).
  bool acquire() PYCONC_ACQUIRE() {
    acquire_until(detail::Deadline::never());
    return true;
  }
  bool acquire(bool blocking) PYCONC_TRY_ACQUIRE(true);
  bool acquire(bool blocking, Seconds timeout) PYCONC_TRY_ACQUIRE(true);
  bool acquire(Seconds timeout) PYCONC_TRY_ACQUIRE(true) { return acquire(true, timeout); }
  void release() PYCONC_RELEASE();
  void lock() PYCONC_ACQUIRE() { acquire(); }
  void unlock() PYCONC_RELEASE() { release(); }
  bool try_lock() PYCONC_TRY_ACQUIRE(true) { return acquire(false); }

  /// Waits until notified. RuntimeError if the lock is not held.
  bool wait() { return wait_until(detail::Deadline::never()); }
  /// Waits until notified or `timeout`; false on timeout. Negative: does not wait.
  bool wait(Seconds timeout);

  /// Waits until `predicate()` is truthy; returns its last value.
  template <class Predicate>
  auto wait_for(Predicate predicate) -> decltype(predicate()) {
    return detail::condition_wait_for(*this, predicate, detail::Deadline::never());
  }
  /// Waits until `predicate()` is truthy or `timeout` passed; returns its last value.
  template <class Predicate>
  auto wait_for(Predicate predicate, Seconds timeout) -> decltype(predicate()) {
    auto deadline = detail::deadline_for(detail::TimeoutRule::threading_wait, timeout);
    return detail::condition_wait_for(*this, predicate, deadline);
  }

  /// Wakes up to `n` waiters; none when n <= 0, as Python. RuntimeError if the lock is
  /// not held.
  void notify(long long n = 1);
  /// Wakes every waiter. RuntimeError if the lock is not held.
  void notify_all();

  /// Internal: wait with a precomputed deadline.
  bool wait_until(const detail::Deadline& deadline);

 private:
  struct Ops {
    bool (*acquire)(void* lock, const detail::Deadline& deadline);
    void (*release)(void* lock);
    bool (*is_owned)(void* lock);
    std::uint64_t (*release_save)(void* lock);
    void (*acquire_restore)(void* lock, std::uint64_t saved);
  };
  struct Waiter {
    std::atomic<std::uint32_t> signaled{0};
    Waiter* prev = nullptr;
    Waiter* next = nullptr;
    bool linked = false;
  };

  bool acquire_until(const detail::Deadline& deadline) PYCONC_NO_THREAD_SAFETY_ANALYSIS;
  void unlink(Waiter* w) noexcept;

  template <class L>
  static bool generic_acquire(void* lock, const detail::Deadline& deadline) {
    L& l = *static_cast<L*>(lock);
    if (deadline.is_never()) return l.acquire(true);
    return l.acquire(true, deadline.remaining());
  }
  template <class L>
  static bool generic_is_owned(void* lock) {
    L& l = *static_cast<L*>(lock);
    if (l.acquire(false)) {
      l.release();
      return false;
    }
    return true;
  }
  template <class L>
  static constexpr Ops generic_ops = {
      &generic_acquire<L>,
      [](void* lock) { static_cast<L*>(lock)->release(); },
      &generic_is_owned<L>,
      [](void* lock) -> std::uint64_t {
        static_cast<L*>(lock)->release();
        return 0;
      },
      [](void* lock, std::uint64_t) { static_cast<L*>(lock)->acquire(true); },
  };
  static const Ops lock_ops;
  static const Ops rlock_ops;

  std::optional<RLock> own_;  // the default lock, when none was given
  void* lock_;
  const Ops* ops_;
  // The waiters, oldest first; guarded by the user's lock (*lock_), which clang's
  // analysis cannot name through the type erasure.
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
};

}  // namespace pyconc::threading
