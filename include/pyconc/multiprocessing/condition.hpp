// multiprocessing.Condition: wait for a notification from another process.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

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
/// Lockable as well.
class PYCONC_CAPABILITY("mutex") Condition {
 public:
  /// A Condition over a new RLock.
  Condition();
  /// A Condition over `lock` (a Lock or RLock handle; shared, not copied).
  explicit Condition(AnyLock lock);

  bool acquire() PYCONC_ACQUIRE() { return lock_.acquire(); }
  bool acquire(bool block) PYCONC_TRY_ACQUIRE(true) { return lock_.acquire(block); }
  bool acquire(bool block, Seconds timeout) PYCONC_TRY_ACQUIRE(true) { return lock_.acquire(block, timeout); }
  bool acquire(Seconds timeout) PYCONC_TRY_ACQUIRE(true) { return lock_.acquire(timeout); }
  void release() PYCONC_RELEASE() { lock_.release(); }
  void lock() PYCONC_ACQUIRE() { lock_.acquire(); }
  void unlock() PYCONC_RELEASE() { lock_.release(); }
  bool try_lock() PYCONC_TRY_ACQUIRE(true) { return lock_.acquire(false); }

  /// Waits until notified; RuntimeError if the lock is not held.
  bool wait() { return wait_until(pyconc::detail::Deadline::never()); }
  /// Waits until notified or `timeout` (negative: does not wait); false on timeout.
  bool wait(Seconds timeout);

  template <class Predicate>
  auto wait_for(Predicate predicate) -> decltype(predicate()) {
    auto result = predicate();
    while (!result) {
      wait();
      result = predicate();
    }
    return result;
  }
  template <class Predicate>
  auto wait_for(Predicate predicate, Seconds timeout) -> decltype(predicate()) {
    auto deadline = pyconc::detail::Deadline::after(timeout);
    auto result = predicate();
    while (!result) {
      if (deadline.expired()) break;
      wait_until(deadline);
      result = predicate();
    }
    return result;
  }

  /// Wakes up to `n` waiters, oldest first (none when n <= 0, as Python); RuntimeError
  /// if the lock is not held.
  void notify(long long n = 1);
  void notify_all();

  bool wait_until(const pyconc::detail::Deadline& deadline);

  /// The lock it uses.
  const AnyLock& get_lock() const noexcept { return lock_; }

  template <class Archive>
  void save(Archive& archive) const {
    archive(state_.name(), lock_);
  }
  template <class Archive>
  void load(Archive& archive) {
    std::string name;
    archive(name, lock_);
    state_ = detail::SharedObject<detail::ConditionState>::open(name);
  }

 private:
  AnyLock lock_;
  detail::SharedObject<detail::ConditionState> state_;
};

}  // namespace pyconc::multiprocessing
