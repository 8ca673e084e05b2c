// threading.Barrier: a fixed number of threads wait for each other.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/condvar.hpp"
#include "pyconc/threading/lock.hpp"

namespace pyconc::threading {

/// A barrier for `parties` threads (Python's threading.Barrier): each calls wait(), and
/// all are released together when the last arrives. wait() returns a distinct index in
/// [0, parties) — the arrival order — so one thread can be picked for a job
/// (`if (barrier.wait() == 0) ...`). The optional `action` runs in the last thread to
/// arrive before the others are released. The barrier is reusable.
///
///     threading::Barrier sync(3, [] { std::puts("all here"); }, 5s);
///     // in each of 3 threads:
///     std::size_t i = sync.wait();
///
/// A wait that times out, an action that throws, or abort() *breaks* the barrier: every
/// waiter, present and future, gets BrokenBarrierError until reset(). reset() returns
/// it to the empty state; threads waiting at that moment get BrokenBarrierError.
/// parties < 1 raises ValueError, as in Python (`Barrier(-1)` is an error, never a barrier
/// for 2^64-1 threads: the count is a signed integer, as Python's int).
///
/// Thread safety: every member may be called from any thread.
///
/// Memory ordering: everything each party did before wait() is visible to every party
/// after it returns.
///
/// Differences from Python: none.
class Barrier {
 public:
  explicit Barrier(long long parties, std::function<void()> action = {},
                   std::optional<Seconds> timeout = std::nullopt);
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  /// Waits for all parties, at most the constructor's default timeout.
  std::size_t wait() PYCONC_EXCLUDES(mutex_);
  /// Waits for all parties, at most `timeout`.
  std::size_t wait(Seconds timeout) PYCONC_EXCLUDES(mutex_);
  /// Back to the initial state; current waiters get BrokenBarrierError.
  void reset() PYCONC_EXCLUDES(mutex_);
  /// Breaks the barrier: current and future waiters get BrokenBarrierError.
  void abort() PYCONC_EXCLUDES(mutex_);

  std::size_t parties() const noexcept { return parties_; }
  /// How many threads are waiting now.
  std::size_t n_waiting() const PYCONC_EXCLUDES(mutex_);
  /// Whether the barrier is broken.
  bool broken() const PYCONC_EXCLUDES(mutex_);

 private:
  enum class State { filling, draining, resetting, broken };

  std::size_t wait_for(std::optional<Seconds> timeout) PYCONC_EXCLUDES(mutex_);
  void enter() PYCONC_REQUIRES(mutex_);
  void release_all() PYCONC_REQUIRES(mutex_);
  void wait_released(const detail::Deadline& deadline) PYCONC_REQUIRES(mutex_);
  void exit() PYCONC_REQUIRES(mutex_);
  void break_barrier() PYCONC_REQUIRES(mutex_);

  const std::size_t parties_;
  const std::function<void()> action_;
  const std::optional<Seconds> timeout_;
  mutable Lock mutex_;
  detail::CondVar cv_;
  State state_ PYCONC_GUARDED_BY(mutex_) = State::filling;
  std::size_t count_ PYCONC_GUARDED_BY(mutex_) = 0;  // threads inside wait()
};

}  // namespace pyconc::threading
