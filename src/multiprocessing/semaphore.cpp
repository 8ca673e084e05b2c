// multiprocessing.Semaphore and BoundedSemaphore: a shared futex word that counts the
// units, and a count of the waiters that may sleep on it.
#include "pyconc/multiprocessing/semaphore.hpp"

#include "pyconc/detail/futex.hpp"
#include "pyconc/errors.hpp"

namespace pyconc::multiprocessing {

using pyconc::detail::Deadline;

Semaphore::Semaphore(long long value, long long max_value)
    : SharedHandle(detail::SharedObject<detail::SemaphoreState>::create(0)) {
  if (value < 0) throw ValueError("semaphore initial value must be >= 0");
  if (value > Semaphore::kSemValueMax) throw OverflowError("semaphore initial value is larger than SEM_VALUE_MAX");
  state_->count.store(static_cast<std::uint32_t>(value), std::memory_order_relaxed);
  state_->max_value = static_cast<std::uint32_t>(max_value);
}

bool Semaphore::try_take() noexcept {
  auto& count = state_->count;
  std::uint32_t c = count.load(std::memory_order_relaxed);
  while (c > 0)
    if (count.compare_exchange_weak(c, c - 1, std::memory_order_acquire, std::memory_order_relaxed)) return true;
  return false;
}

bool Semaphore::acquire_until(const Deadline& deadline) {
  if (try_take()) return true;
  for (int i = 0; i < 100; ++i) {
    pyconc::detail::cpu_relax();
    if (state_->count.load(std::memory_order_relaxed) > 0 && try_take()) return true;
  }
  auto& s = *state_;
  s.sleepers.fetch_add(1, std::memory_order_seq_cst);
  bool got = false;
  for (;;) {
    if (s.count.load(std::memory_order_seq_cst) > 0 && try_take()) {
      got = true;
      break;
    }
    if (!detail::shared_wait_slice(s.count, 0, deadline)) {
      got = try_take();  // a unit that came with the deadline is not lost
      break;
    }
  }
  s.sleepers.fetch_sub(1, std::memory_order_relaxed);
  return got;
}

void Semaphore::release() {
  auto& s = *state_;
  std::uint32_t c = s.count.load(std::memory_order_relaxed);
  do {
    if (c >= s.max_value) {
      if (s.max_value == kSemValueMax) throw OverflowError("semaphore released beyond SEM_VALUE_MAX");
      throw ValueError("semaphore or lock released too many times");
    }
  } while (!s.count.compare_exchange_weak(c, c + 1, std::memory_order_seq_cst, std::memory_order_relaxed));
  if (s.sleepers.load(std::memory_order_seq_cst) > 0) pyconc::detail::futex_wake(s.count, 1, /*shared=*/true);
}

}  // namespace pyconc::multiprocessing
