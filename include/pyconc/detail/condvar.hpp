// An internal condition variable for pyconc's own primitives (Event, Barrier, ...).
#pragma once

#include <atomic>
#include <cstdint>

#include "pyconc/detail/futex.hpp"
#include "pyconc/threading/lock.hpp"

namespace pyconc::detail {

/// A futex sequence-counter condition variable paired with a threading::Lock.
///
/// Thread safety: wait() requires the lock; notify_*() must be called with the same lock
/// held (pyconc's primitives always do), which is what makes the waiter count exact.
///
/// Memory ordering: everything a notifier wrote under the lock is visible to a waiter
/// once it holds the lock again.
class CondVar {
 public:
  /// Releases `m`, sleeps until notified or `deadline`, re-acquires `m`. Returns false
  /// on timeout; may return true spuriously, so callers loop on their predicate.
  bool wait(threading::Lock& m, const Deadline& deadline) PYCONC_REQUIRES(m) {
    std::uint32_t seq = seq_.load(std::memory_order_relaxed);
    waiters_.fetch_add(1, std::memory_order_relaxed);
    m.unlock();
    bool woken = futex_wait(seq_, seq, deadline);
    m.lock();
    waiters_.fetch_sub(1, std::memory_order_relaxed);
    return woken;
  }
  void notify_one() noexcept {
    seq_.fetch_add(1, std::memory_order_relaxed);
    if (waiters_.load(std::memory_order_relaxed) != 0) futex_wake(seq_, 1);
  }
  void notify_all() noexcept {
    seq_.fetch_add(1, std::memory_order_relaxed);
    if (waiters_.load(std::memory_order_relaxed) != 0) futex_wake_all(seq_);
  }

 private:
  std::atomic<std::uint32_t> seq_{0};
  std::atomic<std::uint32_t> waiters_{0};
};

}  // namespace pyconc::detail
