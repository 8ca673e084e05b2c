#include "pyconc/threading/lock.hpp"

#include "pyconc/errors.hpp"

namespace pyconc::detail {

Deadline lock_deadline(bool blocking, std::optional<Seconds> timeout) {
  if (!timeout) return blocking ? Deadline::never() : Deadline::after(Seconds(0));
  double t = timeout->count();
  if (!blocking && t != -1) throw ValueError("can't specify a timeout for a non-blocking call");
  if (t < 0 && t != -1) throw ValueError("timeout value must be a non-negative number");
  if (t > threading::TIMEOUT_MAX.count()) throw OverflowError("timeout value is too large");
  if (!blocking) return Deadline::after(Seconds(0));
  return t == -1 ? Deadline::never() : Deadline::after(*timeout);
}

Deadline optional_deadline(std::optional<Seconds> timeout) {
  if (!timeout) return Deadline::never();
  if (timeout->count() > threading::TIMEOUT_MAX.count())
    throw OverflowError("timeout value is too large");
  return Deadline::after(*timeout);
}

}  // namespace pyconc::detail

namespace pyconc::threading {

bool Lock::acquire(bool blocking, Seconds timeout) {
  detail::Deadline deadline = detail::lock_deadline(blocking, timeout);
  return acquire_until(deadline);
}

// State: 0 unlocked, 1 locked, 2 locked and somebody may sleep in the kernel.
bool Lock::lock_slow(const detail::Deadline& deadline) {
  // Spin briefly first: a critical section is usually shorter than a sleep + wake-up.
  for (int i = 0; i < 100; ++i) {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    if (s == 0) {
      if (state_.compare_exchange_weak(s, 1, std::memory_order_acquire, std::memory_order_relaxed))
        return true;
    } else if (s == 2) {
      break;  // others are already sleeping: queue up behind them
    }
    detail::cpu_relax();
  }
  // Mark "contended" and sleep until we take the lock from 0 (Drepper's mutex #3).
  std::uint32_t s = state_.exchange(2, std::memory_order_acquire);
  while (s != 0) {
    if (!detail::futex_wait(state_, 2, deadline)) {
      // Timed out; one last try so that a release racing the timeout is not lost.
      s = state_.exchange(2, std::memory_order_acquire);
      return s == 0;
    }
    s = state_.exchange(2, std::memory_order_acquire);
  }
  return true;
}

void Lock::release_slow(std::uint32_t prev) {
  if (prev == 0) throw RuntimeError("release unlocked lock");
  detail::futex_wake(state_, 1);  // prev == 2: wake one sleeper
}

}  // namespace pyconc::threading
