#include "pyconc/threading/lock.hpp"

#include "pyconc/errors.hpp"

namespace pyconc::threading {

bool Lock::acquire(bool blocking, Seconds timeout) {
  detail::Deadline deadline = detail::deadline_for(detail::TimeoutRule::threading_lock, blocking, timeout);
  return acquire_until(deadline);
}

// The protocol of the state word (see the bits in lock.hpp):
// - acquire: set kLocked if it is clear (fast path: 0 -> kLocked).
// - park: set kParked and clear kWoken in one step, then sleep while the word is unchanged.
//   Clearing kWoken means "the next release must wake somebody": no sleeper is forgotten.
// - release: clear kLocked; if kParked and not kWoken, also clear kParked, set kWoken and
//   wake one. The woken thread re-sets kParked when it parks again or takes the lock
//   (others may still sleep), and clears kWoken either way. While it is on its way,
//   releases cost no system call.
// - a timed-out sleeper takes the lock if it is free, else clears kWoken and leaves: the
//   holder's release then wakes the next sleeper.

bool Lock::try_lock_slow() noexcept {
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  while ((s & kLocked) == 0) {
    if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire, std::memory_order_relaxed))
      return true;
  }
  return false;
}

bool Lock::lock_slow(const detail::Deadline& deadline) {
  constexpr int kSpins = 300;
  bool slept = false;  // once parked, we take the lock with kParked set and kWoken clear
  for (;;) {
    // Spin briefly first: a critical section is usually shorter than a sleep + wake-up.
    for (int i = 0; i < kSpins; ++i) {
      std::uint32_t s = state_.load(std::memory_order_relaxed);
      if ((s & kLocked) == 0) {
        std::uint32_t next = slept ? ((s | kLocked | kParked) & ~kWoken) : (s | kLocked);
        if (state_.compare_exchange_weak(s, next, std::memory_order_acquire, std::memory_order_relaxed)) return true;
        continue;
      }
      if ((s & kParked) && !slept) break;  // others already sleep: queue up behind them
      detail::cpu_relax();
    }
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    if ((s & kLocked) == 0) {
      std::uint32_t next = slept ? ((s | kLocked | kParked) & ~kWoken) : (s | kLocked);
      if (state_.compare_exchange_strong(s, next, std::memory_order_acquire, std::memory_order_relaxed)) return true;
      continue;
    }
    std::uint32_t parked = (s | kParked) & ~kWoken;
    if (s != parked &&
        !state_.compare_exchange_strong(s, parked, std::memory_order_relaxed, std::memory_order_relaxed))
      continue;
    slept = true;
    if (!detail::futex_wait(state_, parked, deadline)) {
      // Timed out: take the lock if it is free (our last chance), else leave.
      s = state_.load(std::memory_order_relaxed);
      for (;;) {
        if ((s & kLocked) == 0) {
          if (state_.compare_exchange_weak(s, (s | kLocked | kParked) & ~kWoken, std::memory_order_acquire,
                                           std::memory_order_relaxed))
            return true;
        } else if ((s & kWoken) == 0 ||
                   state_.compare_exchange_weak(s, s & ~kWoken, std::memory_order_relaxed, std::memory_order_relaxed)) {
          return false;
        }
      }
    }
  }
}

void Lock::release_slow() {
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    if ((s & kLocked) == 0) throw RuntimeError("release unlocked lock");
    bool wake = (s & kParked) && !(s & kWoken);
    std::uint32_t next = wake ? ((s & ~(kLocked | kParked)) | kWoken) : (s & ~kLocked);
    if (state_.compare_exchange_weak(s, next, std::memory_order_release, std::memory_order_relaxed)) {
      // Nobody was asleep after all (they are awake and will re-check): drop kWoken.
      if (wake && detail::futex_wake(state_, 1) == 0) state_.fetch_and(~kWoken, std::memory_order_relaxed);
      return;
    }
  }
}

}  // namespace pyconc::threading
