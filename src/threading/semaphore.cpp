#include "pyconc/threading/semaphore.hpp"

#include <cstdint>
#include <limits>

#include "pyconc/detail/futex.hpp"
#include "pyconc/errors.hpp"

namespace pyconc::threading {

namespace {
constexpr long long kMaxCount = std::numeric_limits<std::uint32_t>::max();
}

Semaphore::Semaphore(long long value, bool bounded) : bounded_(bounded) {
  if (value < 0) throw ValueError("semaphore initial value must be >= 0");
  if (value > kMaxCount) throw OverflowError("semaphore initial value is too large");
  count_.store(static_cast<std::uint32_t>(value), std::memory_order_relaxed);
  bound_ = bounded ? static_cast<std::uint32_t>(value) : static_cast<std::uint32_t>(kMaxCount);
}

bool Semaphore::try_take() noexcept {
  std::uint32_t c = count_.load(std::memory_order_relaxed);
  while (c != 0) {
    if (count_.compare_exchange_weak(c, c - 1, std::memory_order_acquire, std::memory_order_relaxed))
      return true;
  }
  return false;
}

bool Semaphore::acquire(bool blocking) {
  return blocking ? acquire_until(detail::Deadline::never()) : try_take();
}

bool Semaphore::acquire(bool blocking, Seconds timeout) {
  if (!blocking) throw ValueError("can't specify timeout for non-blocking acquire");
  // As Python's, the timeout is only looked at when the call has to wait.
  if (try_take()) return true;
  return acquire_until(detail::deadline_for(detail::TimeoutRule::threading_wait, timeout));
}

bool Semaphore::acquire_until(const detail::Deadline& deadline) {
  if (try_take()) return true;
  for (;;) {
    // Dekker with release(): we announce ourselves, then re-check the count; release()
    // adds to the count, then checks for sleepers. Both seq_cst, so one sees the other.
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    bool in_time = true;
    if (count_.load(std::memory_order_seq_cst) == 0) in_time = detail::futex_wait(count_, 0, deadline);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    if (try_take()) return true;
    if (!in_time || deadline.expired()) return false;
  }
}

void Semaphore::release(long long n) {
  if (n < 1) throw ValueError("n must be one or more");
  std::uint32_t c = count_.load(std::memory_order_relaxed);
  for (;;) {
    // Written as a difference: c + n could overflow for a huge n.
    if (n > static_cast<long long>(bound_) - static_cast<long long>(c)) {
      if (bounded_) throw ValueError("Semaphore released too many times");
      throw OverflowError("semaphore count would exceed 2**32-1");
    }
    if (count_.compare_exchange_weak(c, static_cast<std::uint32_t>(c + n), std::memory_order_seq_cst,
                                     std::memory_order_relaxed))
      break;
  }
  if (sleepers_.load(std::memory_order_seq_cst) != 0)
    detail::futex_wake(count_, n > 0x7fffffff ? 0x7fffffff : static_cast<int>(n));
}

}  // namespace pyconc::threading
