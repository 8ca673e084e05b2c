// A spin lock for critical sections of a few instructions that never block.
#pragma once

#include <sched.h>

#include <atomic>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/futex.hpp"

namespace pyconc::detail {

/// A test-and-test-and-set lock: one atomic exchange to take it when free, a plain store
/// to release it. Waiters spin briefly, then yield the CPU, so a holder that lost its
/// core gets it back; there is no sleeping, which keeps release free of a system call
/// and of a second atomic read-modify-write.
///
/// Only for critical sections that are short and never block (the queue ring moves one
/// element under it). Not fair.
///
/// Thread safety: lock()/unlock() from any thread; unlock() by the holder only.
/// Memory ordering: everything the holder wrote is visible to the next holder.
class PYCONC_CAPABILITY("mutex") SpinLock {
 public:
  void lock() noexcept PYCONC_ACQUIRE() {
    if (!locked_.exchange(true, std::memory_order_acquire)) return;
    lock_contended();
  }
  void unlock() noexcept PYCONC_RELEASE() { locked_.store(false, std::memory_order_release); }

 private:
  void lock_contended() noexcept {
    for (int i = 0;; ++i) {
      if (!locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire)) return;
      if (i < kSpins) cpu_relax();
      else ::sched_yield();
    }
  }
  static constexpr int kSpins = 100;

  std::atomic<bool> locked_{false};
};

}  // namespace pyconc::detail
