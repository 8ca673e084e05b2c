// multiprocessing.Lock: a lock shared between processes, not owned, that survives the
// death of its holder.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>  // std::scoped_lock: C++'s `with lock:`
#include <string>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/timeout.hpp"
#include "pyconc/multiprocessing/detail/process_mutex.hpp"
#include "pyconc/multiprocessing/detail/shared_object.hpp"

namespace pyconc::multiprocessing {

class Condition;
class AnyLock;

namespace detail {
struct LockState {
  static constexpr std::uint32_t kKind = 1;
  ProcessMutex mutex;
};

/// multiprocessing's timeout rule for acquire(block, timeout): block=false ignores the
/// timeout; a negative timeout is 0; nullopt waits forever.
pyconc::detail::Deadline mp_acquire_deadline(bool block, const Seconds* timeout) noexcept;

/// For a try-acquire that failed: when the recorded holder of `mutex` is dead, takes
/// it over (the caller now holds it) and returns true.
bool take_over_if_dead(ProcessMutex& mutex) noexcept;

/// Releases a ProcessMutex; ValueError("semaphore or lock released too many times")
/// when it is free.
void release_process_mutex(ProcessMutex& mutex);
}  // namespace detail

/// A lock shared by the processes of a program (Python's multiprocessing.Lock):
/// locked or unlocked, owned by nobody — any process or thread may release it.
///
///     multiprocessing::Lock lock;                 // a cheap handle: copy it, pass it
///     multiprocessing::Process p(work, lock);     // to a Process under any start method
///     { std::scoped_lock with(lock); shared->counter += 1; }
///
/// The process holding it is recorded. When a waiter finds that holder dead (killed
/// while holding the lock), the lock is reset and that waiter's acquire raises
/// OwnerDiedError — it holds nothing afterwards, and the data the lock guarded may be
/// inconsistent; the next acquire proceeds normally. A dead holder is noticed within
/// about 50 ms, so a killed process never wedges the living.
///
/// Errors: release() of an unlocked lock raises ValueError("semaphore or lock released
/// too many times"), as Python's does.
///
/// Thread safety: every member may be called from any thread of any process holding a
/// handle. Copies are handles to the same lock.
///
/// Memory ordering: a successful acquire synchronises-with the release that unlocked
/// it, across processes (acquire/release on the shared word).
///
/// Implementation: one 32-bit word in a /dev/shm segment of its own holding the
/// holder's pid and a "sleepers" bit; uncontended acquire and release are one atomic
/// operation each; waiters spin briefly, then sleep on a futex in 50 ms slices, each
/// ending with a check that the holder still lives.
///
/// Differences from Python: a cheap copyable handle, passable to a Process under every
/// start method (Python refuses to pickle it except through inheritance). The
/// OwnerDiedError recovery is pyconc's (Python's lock stays locked forever). A C++
/// Lockable and TimedLockable (`lock`, `unlock`, `try_lock`, `try_lock_for`). `locked()`
/// is an addition (Python 3.14's threading.Lock has it).
class PYCONC_CAPABILITY("mutex") Lock {
 public:
  /// A new, unlocked lock in a segment of its own.
  Lock();

  /// Blocks until acquired; returns true. OwnerDiedError: see above.
  bool acquire() PYCONC_ACQUIRE() { return acquire_until(pyconc::detail::Deadline::never()); }
  /// acquire(block): with block=false, returns at once whether it got the lock.
  bool acquire(bool block) PYCONC_TRY_ACQUIRE(true);
  /// acquire(block, timeout): a negative timeout counts as 0; with block=false the
  /// timeout is ignored (both as Python's multiprocessing).
  bool acquire(bool block, Seconds timeout) PYCONC_TRY_ACQUIRE(true);
  bool acquire(Seconds timeout) PYCONC_TRY_ACQUIRE(true) { return acquire(true, timeout); }
  /// Releases it, from any process or thread; ValueError if it is not locked.
  void release() PYCONC_RELEASE();
  /// Whether some process holds it (a snapshot).
  bool locked() const noexcept { return state_->mutex.holder() != 0; }

  void lock() PYCONC_ACQUIRE() { acquire(); }
  void unlock() PYCONC_RELEASE() { release(); }
  bool try_lock() PYCONC_TRY_ACQUIRE(true) { return acquire(false); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) PYCONC_TRY_ACQUIRE(true) {
    return acquire(true, std::chrono::duration_cast<Seconds>(d));
  }

  /// Internal: acquire with a precomputed deadline.
  bool acquire_until(const pyconc::detail::Deadline& deadline) PYCONC_TRY_ACQUIRE(true);

  /// Whether `other` is a handle to the same lock.
  bool operator==(const Lock& other) const noexcept { return state_ == other.state_; }

  // Pickling (a Process argument under spawn/forkserver): the segment's name.
  template <class Archive>
  void save(Archive& archive) const {
    archive(state_.name());
  }
  template <class Archive>
  void load(Archive& archive) {
    std::string name;
    archive(name);
    state_ = detail::SharedObject<detail::LockState>::open(name);
  }

 private:
  friend class AnyLock;
  // Condition's hooks: whether this process holds it; release; re-acquire after a wait
  // (OwnerDiedError *while holding it* when the previous holder died).
  bool is_owned() const noexcept;
  void acquire_restore() PYCONC_NO_THREAD_SAFETY_ANALYSIS;

  detail::SharedObject<detail::LockState> state_;
};

}  // namespace pyconc::multiprocessing
