// multiprocessing.Lock: a lock shared between processes, not owned, that survives the
// death of its holder.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>  // std::scoped_lock: C++'s `with lock:`

#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/timeout.hpp"
#include "pyconc/multiprocessing/detail/lock_interface.hpp"
#include "pyconc/multiprocessing/detail/process_mutex.hpp"
#include "pyconc/multiprocessing/detail/shared_handle.hpp"

namespace pyconc::multiprocessing {

namespace detail {
struct LockState {
  static constexpr std::uint32_t kKind = 1;
  ProcessMutex mutex;
};

/// The handle of a lock over a ProcessMutex (Lock, RLock): its shared State, every
/// acquire spelling (LockInterface) and locked().
template <class State, class Derived>
class MutexHandle : public ObjectHandle<State>, public LockInterface<Derived> {
 public:
  /// Whether some process holds it (a snapshot).
  bool locked() const noexcept { return this->state_->mutex.holder() != 0; }

 protected:
  using SharedHandle<SharedObject<State>>::SharedHandle;
};
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
/// Lockable and TimedLockable (`lock`, `unlock`, `try_lock`, `try_lock_for`,
/// `try_lock_until`). `locked()` is an addition (Python 3.14's threading.Lock has it).
class PYCONC_CAPABILITY("mutex") Lock : public detail::MutexHandle<detail::LockState, Lock> {
 public:
  /// A new, unlocked lock in a segment of its own.
  Lock();
  /// An empty handle that load() attaches to an existing lock (see pickle::for_loading).
  explicit Lock(pickle::for_loading_t tag) noexcept : MutexHandle(tag) {}

  // acquire(), acquire(block), acquire(block, timeout), acquire(timeout), lock(),
  // unlock(), try_lock(), try_lock_for(), try_lock_until(): detail::LockInterface;
  // an acquire raises OwnerDiedError when the holder died (see above). locked():
  // detail::MutexHandle.

  /// Releases it, from any process or thread; ValueError if it is not locked.
  void release() PYCONC_RELEASE();

 private:
  friend struct detail::LockAccess;
  bool acquire_until(const pyconc::detail::Deadline& deadline) PYCONC_TRY_ACQUIRE(true);
  // Condition's hooks: whether this process holds it; re-acquire after a wait
  // (OwnerDiedError *while holding it* when the previous holder died).
  bool is_owned() const noexcept;
  void acquire_restore(std::uint64_t) PYCONC_NO_THREAD_SAFETY_ANALYSIS;
};

}  // namespace pyconc::multiprocessing
