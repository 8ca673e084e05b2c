// multiprocessing.Condition: wait for a notification from another process.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "pyconc/threading/detail/wait_for.hpp"
#include "pyconc/multiprocessing/rlock.hpp"

namespace pyconc::multiprocessing {

namespace detail {
struct ConditionState {
  static constexpr std::uint32_t kKind = 5;
  struct Slot {
    std::atomic<std::uint32_t> state{0};  // kFree, kWaiting, kNotified: the futex word
    std::int32_t pid = 0;                 // the waiting process
    std::uint64_t ticket = 0;             // arrival order
  };
  static constexpr std::uint32_t kFree = 0, kWaiting = 1, kNotified = 2;
  static constexpr std::size_t kSlots = 250;  // the segment fits one 4 KiB page

  ProcessMutex mutex;                  // guards everything below except slot.state reads
  std::uint32_t waiting = 0;           // slots in kWaiting
  std::uint64_t next_ticket = 0;
  Slot slots[kSlots];
};
}  // namespace detail

/// A condition variable shared by the processes of a program (Python's
/// multiprocessing.Condition): processes wait() for a notify() while the associated
/// lock is released, and hold the lock again when wait returns.
///
///     multiprocessing::Condition cv;          // over a new RLock, as Python's default
///     // consumer (any process):
///     { std::scoped_lock with(cv); cv.wait_for([&] { return shared->ready; }); }
///     // producer (another process):
///     { std::scoped_lock with(cv); shared->ready = true; cv.notify(); }
///
/// notify(n) wakes the n oldest waiters (fewer if fewer wait); a wait that timed out
/// but was notified before it gave up counts as notified (returns true). wait/notify
/// without holding the lock raise RuntimeError. A waiter whose process dies is
/// skipped by notify. When the lock's holder dies while a waiter is waking up, that
/// waiter's wait raises OwnerDiedError *holding the lock* (so `with` releases it).
///
/// Errors: RuntimeError when more than 250 threads of the family wait on one Condition
/// at once.
///
/// Thread safety: every member may be called from any thread of any process holding a
/// handle; wait/notify require the lock, as in Python. Copies share the condition.
///
/// Memory ordering: that of the underlying lock.
///
/// Differences from Python: the lock is a Lock or an RLock of multiprocessing; "holding"
/// a Lock means that this process holds it (Python checks the thread). At most 250
/// simultaneous waiters. wait_for(pred) returns what pred returned, as Python does.
/// Lockable and TimedLockable as well (through its lock).
class PYCONC_CAPABILITY("mutex") Condition : public detail::ObjectHandle<detail::ConditionState>,
                                            public detail::LockInterface<Condition> {
 public:
  /// A Condition over a new RLock.
  Condition();
  /// A Condition over `lock` (a Lock or RLock handle; shared, not copied).
  explicit Condition(AnyLock lock);
  /// An empty handle that load() attaches to an existing condition and its lock (see
  /// pickle::for_loading).
  explicit Condition(pickle::for_loading_t tag) noexcept : SharedHandle(tag), lock_(tag) {}

  // acquire(...), lock(), unlock(), try_lock*(): detail::LockInterface, on the lock.
  void release() PYCONC_RELEASE() PYCONC_NO_THREAD_SAFETY_ANALYSIS { lock_.release(); }

  /// Waits until notified; RuntimeError if the lock is not held.
  bool wait() { return wait_until(pyconc::detail::Deadline::never()); }
  /// Waits until notified or `timeout` (negative: does not wait); false on timeout.
  bool wait(Seconds timeout);

  /// Waits until `predicate()` is true (checked first, then after each wakeup); returns
  /// it. With a timeout, waits against one deadline and returns its last value.
  template <class Predicate>
  auto wait_for(Predicate predicate) -> decltype(predicate()) {
    return pyconc::detail::condition_wait_for(*this, predicate, pyconc::detail::Deadline::never());
  }
  template <class Predicate>
  auto wait_for(Predicate predicate, Seconds timeout) -> decltype(predicate()) {
    return pyconc::detail::condition_wait_for(*this, predicate, pyconc::detail::Deadline::after(timeout));
  }

  /// Wakes up to `n` waiters, oldest first (none when n <= 0, as Python); RuntimeError
  /// if the lock is not held.
  void notify(long long n = 1);
  void notify_all();

  bool wait_until(const pyconc::detail::Deadline& deadline);

  /// The lock it uses.
  const AnyLock& get_lock() const noexcept { return lock_; }

  /// Pickled as its segment's name, then its lock.
  template <class Archive>
  void save(Archive& archive) const {
    SharedHandle::save(archive);
    archive(lock_);
  }
  template <class Archive>
  void load(Archive& archive) {
    SharedHandle::load(archive);
    archive(lock_);
  }

 private:
  friend struct detail::LockAccess;
  bool acquire_until(const pyconc::detail::Deadline& deadline) PYCONC_NO_THREAD_SAFETY_ANALYSIS {
    return detail::LockAccess::acquire_until(lock_, deadline);
  }

  AnyLock lock_;
};

}  // namespace pyconc::multiprocessing
