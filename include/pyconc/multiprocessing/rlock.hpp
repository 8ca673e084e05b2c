// multiprocessing.RLock: a reentrant lock shared between processes, owned by the
// (process, thread) that acquired it; and AnyLock, the lock of a Condition or a Value.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <variant>

#include "pyconc/multiprocessing/lock.hpp"

namespace pyconc::multiprocessing {

namespace detail {
struct RLockState {
  static constexpr std::uint32_t kKind = 2;
  ProcessMutex mutex;               // holder pid: the owning process
  std::atomic<std::uint64_t> thread{0};  // pthread_self() of the owning thread
  std::atomic<std::uint64_t> count{0};   // recursion depth, written by the owner
};
}  // namespace detail

/// A reentrant lock shared by the processes of a program (Python's
/// multiprocessing.RLock): the (process, thread) that holds it may acquire it again;
/// it is free when released as often as acquired; only the owner may release it.
///
///     multiprocessing::RLock rlock;
///     std::scoped_lock outer(rlock);
///     std::scoped_lock inner(rlock);  // same thread: fine
///
/// When a waiter finds that the owning process died holding it, the lock is reset and
/// that waiter's acquire raises OwnerDiedError (it holds nothing afterwards); the next
/// acquire proceeds normally.
///
/// Errors: release() by a thread that does not own it raises RuntimeError (Python
/// raises AssertionError; docs/conventions.md, "Exceptions").
///
/// Thread safety: every member may be called from any thread of any process holding a
/// handle. Copies are handles to the same lock.
///
/// Memory ordering: as Lock, for the outermost acquire and the final release.
///
/// Differences from Python: as Lock (a handle passable to any Process; OwnerDiedError
/// recovery; Lockable and TimedLockable).
class PYCONC_CAPABILITY("mutex") RLock {
 public:
  /// A new, free lock in a segment of its own.
  RLock();

  bool acquire() PYCONC_ACQUIRE() { return acquire_until(pyconc::detail::Deadline::never()); }
  bool acquire(bool block) PYCONC_TRY_ACQUIRE(true);
  /// A negative timeout counts as 0; block=false ignores the timeout.
  bool acquire(bool block, Seconds timeout) PYCONC_TRY_ACQUIRE(true);
  bool acquire(Seconds timeout) PYCONC_TRY_ACQUIRE(true) { return acquire(true, timeout); }
  /// Releases one level; RuntimeError when the calling thread does not own it.
  void release() PYCONC_RELEASE();
  /// Whether any process holds it (a snapshot).
  bool locked() const noexcept { return state_->mutex.holder() != 0; }

  void lock() PYCONC_ACQUIRE() { acquire(); }
  void unlock() PYCONC_RELEASE() { release(); }
  bool try_lock() PYCONC_TRY_ACQUIRE(true) { return acquire(false); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) PYCONC_TRY_ACQUIRE(true) {
    return acquire(true, std::chrono::duration_cast<Seconds>(d));
  }

  bool acquire_until(const pyconc::detail::Deadline& deadline) PYCONC_TRY_ACQUIRE(true);

  bool operator==(const RLock& other) const noexcept { return state_ == other.state_; }

  template <class Archive>
  void save(Archive& archive) const {
    archive(state_.name());
  }
  template <class Archive>
  void load(Archive& archive) {
    std::string name;
    archive(name);
    state_ = detail::SharedObject<detail::RLockState>::open(name);
  }

 private:
  friend class AnyLock;
  bool is_owned() const noexcept;
  std::uint64_t release_save() PYCONC_NO_THREAD_SAFETY_ANALYSIS;
  void acquire_restore(std::uint64_t count) PYCONC_NO_THREAD_SAFETY_ANALYSIS;
  void take(std::uint64_t count) noexcept;

  detail::SharedObject<detail::RLockState> state_;
};

/// Either a Lock or an RLock handle: the lock of a Condition, and what get_lock() of a
/// Value or Array returns (Python's duck-typed lock). Converts implicitly from both.
///
///     multiprocessing::Value<int> v(0);                // guarded by a new RLock
///     { std::scoped_lock with(v.get_lock()); v.set_value(v.value() + 1); }
///
/// Thread safety, memory ordering: those of the lock it holds.
class PYCONC_CAPABILITY("mutex") AnyLock {
 public:
  AnyLock(Lock lock) : lock_(std::move(lock)) {}    // NOLINT: implicit, as in Python
  AnyLock(RLock lock) : lock_(std::move(lock)) {}   // NOLINT
  /// A new RLock (the default of Condition and Value).
  AnyLock() : lock_(RLock()) {}

  bool acquire() PYCONC_ACQUIRE() PYCONC_NO_THREAD_SAFETY_ANALYSIS;
  bool acquire(bool block) PYCONC_TRY_ACQUIRE(true) PYCONC_NO_THREAD_SAFETY_ANALYSIS;
  bool acquire(bool block, Seconds timeout) PYCONC_TRY_ACQUIRE(true) PYCONC_NO_THREAD_SAFETY_ANALYSIS;
  bool acquire(Seconds timeout) PYCONC_TRY_ACQUIRE(true) { return acquire(true, timeout); }
  void release() PYCONC_RELEASE() PYCONC_NO_THREAD_SAFETY_ANALYSIS;
  void lock() PYCONC_ACQUIRE() { acquire(); }
  void unlock() PYCONC_RELEASE() { release(); }
  bool try_lock() PYCONC_TRY_ACQUIRE(true) { return acquire(false); }

  bool is_rlock() const noexcept { return std::holds_alternative<RLock>(lock_); }
  /// The Lock or RLock inside (std::bad_variant_access when it is the other).
  const Lock& as_lock() const { return std::get<Lock>(lock_); }
  const RLock& as_rlock() const { return std::get<RLock>(lock_); }

  template <class Archive>
  void save(Archive& archive) const {
    bool r = is_rlock();
    archive(r);
    if (r) archive(std::get<RLock>(lock_));
    else archive(std::get<Lock>(lock_));
  }
  template <class Archive>
  void load(Archive& archive) {
    bool r = false;
    archive(r);
    if (r) {
      RLock l;
      archive(l);
      lock_ = std::move(l);
    } else {
      Lock l;
      archive(l);
      lock_ = std::move(l);
    }
  }

  // Condition's hooks (Python's _is_owned, _release_save, _acquire_restore).
  bool is_owned() const noexcept;
  std::uint64_t release_save() PYCONC_NO_THREAD_SAFETY_ANALYSIS;
  void acquire_restore(std::uint64_t saved) PYCONC_NO_THREAD_SAFETY_ANALYSIS;

 private:
  std::variant<Lock, RLock> lock_;
};

}  // namespace pyconc::multiprocessing
