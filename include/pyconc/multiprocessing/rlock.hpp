// multiprocessing.RLock: a reentrant lock shared between processes, owned by the
// (process, thread) that acquired it; and AnyLock, the lock of a Condition or a Value.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <utility>
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
/// Thread safety: as Lock (any thread of any process holding a handle; copies share
/// the lock).
///
/// Memory ordering: as Lock, for the outermost acquire and the final release.
///
/// Differences from Python: as Lock (a handle passable to any Process; OwnerDiedError
/// recovery; Lockable and TimedLockable).
class PYCONC_CAPABILITY("mutex") RLock : public detail::MutexHandle<detail::RLockState, RLock> {
 public:
  /// A new, free lock in a segment of its own.
  RLock();
  /// An empty handle that load() attaches to an existing lock (see pickle::for_loading).
  explicit RLock(pickle::for_loading_t tag) noexcept : MutexHandle(tag) {}

  // acquire(...), lock(), unlock(), try_lock*(), locked(): as Lock's.

  /// Releases one level; RuntimeError when the calling thread does not own it.
  void release() PYCONC_RELEASE();

 private:
  friend struct detail::LockAccess;
  bool acquire_until(const pyconc::detail::Deadline& deadline) PYCONC_TRY_ACQUIRE(true);
  bool is_owned() const noexcept;
  std::uint64_t release_save() PYCONC_NO_THREAD_SAFETY_ANALYSIS;
  void acquire_restore(std::uint64_t count) PYCONC_NO_THREAD_SAFETY_ANALYSIS;
  void take(std::uint64_t count) noexcept;
};

/// Either a Lock or an RLock handle: the lock of a Condition, and what get_lock() of a
/// Value or Array returns (Python's duck-typed lock). Converts implicitly from both.
///
///     multiprocessing::Value<int> v(0);                // guarded by a new RLock
///     { std::scoped_lock with(v.get_lock()); v.set_value(v.value() + 1); }
///
/// Thread safety, memory ordering: those of the lock it holds.
class PYCONC_CAPABILITY("mutex") AnyLock : public detail::LockInterface<AnyLock> {
 public:
  AnyLock(Lock lock) : lock_(std::move(lock)) {}    // NOLINT: implicit, as in Python
  AnyLock(RLock lock) : lock_(std::move(lock)) {}   // NOLINT
  /// A new RLock (the default of Condition and Value).
  AnyLock() : lock_(RLock()) {}
  /// An empty handle that load() attaches to an existing Lock or RLock.
  explicit AnyLock(pickle::for_loading_t tag) noexcept : lock_(std::in_place_type<Lock>, tag) {}

  // acquire(...), lock(), unlock(), try_lock*(): detail::LockInterface.
  void release() PYCONC_RELEASE() PYCONC_NO_THREAD_SAFETY_ANALYSIS;

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
  /// Attaches to the lock the pickle names (never creates one).
  template <class Archive>
  void load(Archive& archive) {
    bool r = false;
    archive(r);
    if (r) archive(lock_.template emplace<RLock>(pickle::for_loading));
    else archive(lock_.template emplace<Lock>(pickle::for_loading));
  }

 private:
  friend struct detail::LockAccess;
  bool acquire_until(const pyconc::detail::Deadline& deadline) PYCONC_NO_THREAD_SAFETY_ANALYSIS;
  bool is_owned() const noexcept;
  std::uint64_t release_save() PYCONC_NO_THREAD_SAFETY_ANALYSIS;
  void acquire_restore(std::uint64_t saved) PYCONC_NO_THREAD_SAFETY_ANALYSIS;

  std::variant<Lock, RLock> lock_;
};

}  // namespace pyconc::multiprocessing
