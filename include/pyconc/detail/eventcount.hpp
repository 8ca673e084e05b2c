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
/// Pending wake-ups are counted beside the waiters: once every waiter has a wake-up on
/// its way, notify_one() makes no system call. Without that, a producer whose consumer
/// was woken but not yet scheduled (one core for both, or a busy machine) made a futex
/// call for every item it put until the consumer ran: a system call per item, and 30x
/// less throughput. A returning waiter takes one pending wake-up with it, whichever
/// thread the kernel woke: the counts only decide whether a call is needed, and every
/// woken thread re-checks the condition.
///
/// Memory ordering: the condition itself must be published with release/acquire (or
/// stronger) by its owner; the event count only orders the sleep/wake decision.
class EventCount {
 public:
  std::uint32_t prepare_wait() noexcept {
    state_.fetch_add(kWaiter, std::memory_order_seq_cst);
    return seq_.load(std::memory_order_seq_cst);
  }
  void cancel_wait() noexcept { leave(); }
  /// Sleeps unless notified since prepare_wait(); false on timeout. Spurious returns
  /// are possible: callers loop.
  bool wait(std::uint32_t key, const Deadline& deadline) noexcept {
    bool in_time = futex_wait(seq_, key, deadline);
    leave();
    return in_time;
  }
  // The notifier first reads the counts with a read-modify-write: an RMW reads the
  // latest value in their modification order, so either it sees a waiter that
  // announced itself, or that waiter's own RMW comes later, synchronises with ours and
  // its re-check sees the condition. One locked instruction on a line that, in steady
  // state, only the notifying side writes — cheaper than a full fence plus a load.
  void notify_one() noexcept {
    std::uint64_t s = state_.fetch_add(0, std::memory_order_seq_cst);
    for (;;) {
      if (waiters(s) <= signals(s)) return;  // nobody, or all already being woken
      if (state_.compare_exchange_weak(s, s + kSignal, std::memory_order_seq_cst, std::memory_order_relaxed)) break;
    }
    seq_.fetch_add(1, std::memory_order_seq_cst);
    futex_wake(seq_, 1);
  }
  void notify_all() noexcept {
    std::uint64_t s = state_.fetch_add(0, std::memory_order_seq_cst);
    for (;;) {
      if (waiters(s) <= signals(s)) return;
      std::uint64_t all = (s & kWaiterMask) | (s & kWaiterMask) << 32;
      if (state_.compare_exchange_weak(s, all, std::memory_order_seq_cst, std::memory_order_relaxed)) break;
    }
    seq_.fetch_add(1, std::memory_order_seq_cst);
    futex_wake_all(seq_);
  }
  bool has_waiters() const noexcept { return waiters(state_.load(std::memory_order_relaxed)) != 0; }

 private:
  static constexpr std::uint64_t kWaiter = 1;
  static constexpr std::uint64_t kSignal = std::uint64_t{1} << 32;
  static constexpr std::uint64_t kWaiterMask = kSignal - 1;
  static std::uint32_t waiters(std::uint64_t s) noexcept { return static_cast<std::uint32_t>(s); }
  static std::uint32_t signals(std::uint64_t s) noexcept { return static_cast<std::uint32_t>(s >> 32); }

  // A waiter leaves: one waiter less, and one pending wake-up less if there is one
  // (signals never exceed waiters).
  void leave() noexcept {
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      std::uint64_t next = s - kWaiter - (signals(s) != 0 ? kSignal : 0);
      if (state_.compare_exchange_weak(s, next, std::memory_order_seq_cst, std::memory_order_relaxed)) return;
    }
  }

  alignas(64) std::atomic<std::uint32_t> seq_{0};
  std::atomic<std::uint64_t> state_{0};  // waiters | pending wake-ups << 32
};

}  // namespace pyconc::detail
