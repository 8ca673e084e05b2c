// An event count: lets threads sleep until "something changed", with no system call on
// the notifying side while nobody sleeps.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
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
    // Counted and keyed in one atomic step: a waiter counted before a notification's
    // pending wake-up was recorded necessarily holds the key from before it, so its
    // futex wait cannot sleep through that wake-up.
    return static_cast<std::uint32_t>(word_.fetch_add(kWaiter, std::memory_order_seq_cst));
  }
  void cancel_wait() noexcept { leave(); }
  /// Sleeps unless notified since prepare_wait(); false on timeout. Spurious returns
  /// are possible: callers loop.
  bool wait(std::uint32_t key, const Deadline& deadline) noexcept {
    bool in_time = futex_wait(seq(), key, deadline);
    leave();
    return in_time;
  }
  // The notifier reads the word with a read-modify-write: an RMW reads the latest value
  // in its modification order, so either it sees a waiter that announced itself, or
  // that waiter's own RMW comes later, synchronises with ours and its re-check sees the
  // condition. One locked instruction on a line that, in steady state, only the
  // notifying side writes — cheaper than a full fence plus a load.
  void notify_one() noexcept {
    std::uint64_t w = word_.fetch_add(0, std::memory_order_seq_cst);
    for (;;) {
      if (waiters(w) <= signals(w)) return;  // nobody, or all already being woken
      if (word_.compare_exchange_weak(w, bumped(w) + kSignal, std::memory_order_seq_cst, std::memory_order_relaxed))
        break;
    }
    futex_wake(seq(), 1);
  }
  void notify_all() noexcept {
    std::uint64_t w = word_.fetch_add(0, std::memory_order_seq_cst);
    for (;;) {
      if (waiters(w) <= signals(w)) return;
      std::uint64_t all = (bumped(w) & ~kSignalMask) | std::uint64_t{waiters(w)} << kSignalShift;
      if (word_.compare_exchange_weak(w, all, std::memory_order_seq_cst, std::memory_order_relaxed)) break;
    }
    futex_wake_all(seq());
  }
  bool has_waiters() const noexcept { return waiters(word_.load(std::memory_order_relaxed)) != 0; }

 private:
  // The word: the futex sequence in the low 32 bits, then the waiters (16 bits), then
  // the pending wake-ups (16 bits).
  static constexpr unsigned kWaiterShift = 32, kSignalShift = 48;
  static constexpr std::uint64_t kWaiter = std::uint64_t{1} << kWaiterShift;
  static constexpr std::uint64_t kSignal = std::uint64_t{1} << kSignalShift;
  static constexpr std::uint64_t kSignalMask = std::uint64_t{0xffff} << kSignalShift;
  static std::uint32_t waiters(std::uint64_t w) noexcept { return static_cast<std::uint32_t>(w >> kWaiterShift) & 0xffff; }
  static std::uint32_t signals(std::uint64_t w) noexcept { return static_cast<std::uint32_t>(w >> kSignalShift); }
  // `w` with the sequence advanced (wrapping within its 32 bits).
  static std::uint64_t bumped(std::uint64_t w) noexcept {
    return (w & ~std::uint64_t{0xffffffff}) | static_cast<std::uint32_t>(static_cast<std::uint32_t>(w) + 1);
  }
  // The sequence half of the word, for the futex calls (as folly's EventCount does).
  std::atomic<std::uint32_t>& seq() noexcept {
    static_assert(sizeof(std::atomic<std::uint64_t>) == 8 && sizeof(std::atomic<std::uint32_t>) == 4);
    constexpr std::size_t low = std::endian::native == std::endian::little ? 0 : 4;
    return *reinterpret_cast<std::atomic<std::uint32_t>*>(reinterpret_cast<char*>(&word_) + low);
  }

  // A waiter leaves: one waiter less, and one pending wake-up less if there is one
  // (pending wake-ups never outnumber waiters).
  void leave() noexcept {
    std::uint64_t w = word_.load(std::memory_order_relaxed);
    for (;;) {
      std::uint64_t next = w - kWaiter - (signals(w) != 0 ? kSignal : 0);
      if (word_.compare_exchange_weak(w, next, std::memory_order_seq_cst, std::memory_order_relaxed)) return;
    }
  }

  alignas(128) std::atomic<std::uint64_t> word_{0};
};

}  // namespace pyconc::detail
