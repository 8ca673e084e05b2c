// An event count: lets threads sleep until "something changed", with no system call on
// the notifying side while nobody sleeps.
#pragma once

#include <atomic>
#include <cstdint>

#include "pyconc/detail/futex.hpp"

namespace pyconc::detail {

/// The waiter's protocol:
///
///     auto key = ec.prepare_wait();           // announce, then re-check the condition
///     if (condition()) { ec.cancel_wait(); ... } else ec.wait(key, deadline);
///
/// The notifier makes the condition true, then calls notify_one()/notify_all(), which
/// costs one atomic read-modify-write when nobody waits. A waiter can never miss a notification
/// that follows its prepare_wait(): either the notifier sees it counted (and bumps the
/// key, so the futex does not sleep), or the waiter's re-check sees the condition.
///
/// Memory ordering: the condition itself must be published with release/acquire (or
/// stronger) by its owner; the event count only orders the sleep/wake decision.
class EventCount {
 public:
  std::uint32_t prepare_wait() noexcept {
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    return seq_.load(std::memory_order_seq_cst);
  }
  void cancel_wait() noexcept { waiters_.fetch_sub(1, std::memory_order_relaxed); }
  /// Sleeps unless notified since prepare_wait(); false on timeout. Spurious returns
  /// are possible: callers loop.
  bool wait(std::uint32_t key, const Deadline& deadline) noexcept {
    bool in_time = futex_wait(seq_, key, deadline);
    waiters_.fetch_sub(1, std::memory_order_relaxed);
    return in_time;
  }
  // The notifier reads the waiter count with a read-modify-write: an RMW reads the
  // latest value in the count's modification order, so either it sees a waiter that
  // announced itself, or that waiter's own RMW comes later, synchronises with ours and
  // its re-check sees the condition. One locked instruction on a line that, in steady
  // state, only the notifying side writes — cheaper than a full fence plus a load.
  void notify_one() noexcept {
    if (waiters_.fetch_add(0, std::memory_order_seq_cst) != 0) {
      seq_.fetch_add(1, std::memory_order_seq_cst);
      futex_wake(seq_, 1);
    }
  }
  void notify_all() noexcept {
    if (waiters_.fetch_add(0, std::memory_order_seq_cst) != 0) {
      seq_.fetch_add(1, std::memory_order_seq_cst);
      futex_wake_all(seq_);
    }
  }
  bool has_waiters() const noexcept { return waiters_.load(std::memory_order_relaxed) != 0; }

 private:
  alignas(64) std::atomic<std::uint32_t> seq_{0};
  std::atomic<std::uint32_t> waiters_{0};
};

}  // namespace pyconc::detail
