// multiprocessing.Semaphore and multiprocessing.BoundedSemaphore.
#pragma once

#include <atomic>
#include <cstdint>

#include "pyconc/multiprocessing/lock.hpp"

namespace pyconc::multiprocessing {

namespace detail {
struct SemaphoreState {
  static constexpr std::uint32_t kKind = 3;
  std::atomic<std::uint32_t> count{0};     // the futex word
  std::atomic<std::uint32_t> sleepers{0};  // waiters that may sleep on `count`
  std::uint32_t max_value = 0;             // the bound of a BoundedSemaphore, else SEM_VALUE_MAX
};
}  // namespace detail

/// A counting semaphore shared by the processes of a program (Python's
/// multiprocessing.Semaphore): acquire() takes one unit, blocking while the count is
/// zero; release() adds one and wakes one waiter.
///
///     multiprocessing::Semaphore slots(3);
///     { std::scoped_lock with(slots); use_one_of_three(); }
///     slots.get_value();  // 3 again
///
/// Errors: a negative initial value raises ValueError; a count beyond
/// SEM_VALUE_MAX (2^31-1) raises OverflowError.
///
/// A process that dies holding units does not give them back: nobody owns a unit
/// (any process may release), so whether the dead one would have released is unknown
/// — exactly as Python's semaphores. Waiters then wait until someone else releases or
/// their timeout passes; use a timeout, or a Lock/RLock (which recover), where a holder
/// may be killed.
///
/// Thread safety: every member may be called from any thread of any process holding a
/// handle. Copies are handles to the same semaphore.
///
/// Memory ordering: a successful acquire synchronises-with the release that provided
/// its unit.
///
/// Differences from Python: a cheap handle passable to any Process. get_value() works
/// (Python's raises NotImplementedError on macOS only). A C++ Lockable and TimedLockable as well.
class PYCONC_CAPABILITY("semaphore") Semaphore : public detail::ObjectHandle<detail::SemaphoreState>,
                                                public detail::LockInterface<Semaphore> {
 public:
  static constexpr long long kSemValueMax = 2147483647;

  explicit Semaphore(long long value = 1) : Semaphore(value, kSemValueMax) {}
  /// An empty handle that load() attaches to an existing semaphore (see
  /// pickle::for_loading).
  explicit Semaphore(pickle::for_loading_t tag) noexcept : SharedHandle(tag) {}

  // acquire(...) takes one unit (a negative timeout counts as 0; block=false ignores the
  // timeout), lock(), unlock(), try_lock*(): detail::LockInterface.

  /// Adds one unit and wakes a waiter. BoundedSemaphore: ValueError at the bound.
  void release() PYCONC_RELEASE();
  /// The current count (Python's get_value()).
  long long get_value() const noexcept { return state_->count.load(std::memory_order_relaxed); }

 protected:
  Semaphore(long long value, long long max_value);

 private:
  friend struct detail::LockAccess;
  bool acquire_until(const pyconc::detail::Deadline& deadline) PYCONC_TRY_ACQUIRE(true);
  bool try_take() noexcept;
};

/// A semaphore that refuses to be released above its initial value (Python's
/// multiprocessing.BoundedSemaphore): such a release raises ValueError("semaphore or
/// lock released too many times") and changes nothing. Everything else is Semaphore's.
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(long long value = 1) : Semaphore(value, value) {}
  explicit BoundedSemaphore(pickle::for_loading_t tag) noexcept : Semaphore(tag) {}
};

}  // namespace pyconc::multiprocessing
