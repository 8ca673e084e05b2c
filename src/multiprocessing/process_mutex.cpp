#include "pyconc/multiprocessing/detail/process_mutex.hpp"

#include <algorithm>
#include <chrono>

#include "pyconc/detail/futex.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"

namespace pyconc::multiprocessing::detail {

using pyconc::detail::Deadline;

bool shared_wait_slice(std::atomic<std::uint32_t>& word, std::uint32_t expected, const Deadline& deadline) noexcept {
  auto slice = Deadline::after(pyconc::Seconds(ProcessMutex::kCheckInterval));
  const Deadline& earlier = (!deadline.is_never() && deadline.when() < slice.when()) ? deadline : slice;
  bool woken = pyconc::detail::futex_wait(word, expected, earlier, /*shared=*/true);
  if (!woken && &earlier == &deadline) return false;
  return !deadline.expired();
}

bool ProcessMutex::try_lock() noexcept {
  std::uint32_t expected = 0;
  return word.compare_exchange_strong(expected, static_cast<std::uint32_t>(self_pid()), std::memory_order_acquire,
                                      std::memory_order_relaxed);
}

ProcessMutex::Acquire ProcessMutex::lock(const Deadline& deadline) noexcept {
  const auto me = static_cast<std::uint32_t>(self_pid());
  // A short spin: the holder is usually in a few-instruction critical section.
  for (int i = 0; i < 100; ++i) {
    std::uint32_t current = word.load(std::memory_order_relaxed);
    if (current == 0 && word.compare_exchange_weak(current, me, std::memory_order_acquire, std::memory_order_relaxed))
      return Acquire::ok;
    pyconc::detail::cpu_relax();
  }
  for (;;) {
    std::uint32_t current = word.load(std::memory_order_relaxed);
    if ((current & kPidMask) == 0) {
      // Free: take it, keeping the sleepers bit (others may still sleep).
      if (word.compare_exchange_weak(current, me | kSleepers, std::memory_order_acquire, std::memory_order_relaxed))
        return Acquire::ok;
      continue;
    }
    if (!(current & kSleepers)) {
      if (!word.compare_exchange_weak(current, current | kSleepers, std::memory_order_relaxed)) continue;
      current |= kSleepers;
    }
    bool in_time = shared_wait_slice(word, current, deadline);
    std::uint32_t now = word.load(std::memory_order_relaxed);
    if (now == current && !process_alive(static_cast<int>(current & kPidMask))) {
      // The holder died holding it: take it over (one waiter wins the exchange).
      if (word.compare_exchange_strong(now, me | kSleepers, std::memory_order_acquire, std::memory_order_relaxed))
        return Acquire::owner_died;
      continue;
    }
    if (!in_time) {
      std::uint32_t again = word.load(std::memory_order_relaxed);
      if ((again & kPidMask) == 0 &&
          word.compare_exchange_strong(again, me | (again & kSleepers), std::memory_order_acquire,
                                       std::memory_order_relaxed))
        return Acquire::ok;
      return Acquire::timeout;
    }
  }
}

void ProcessMutex::unlock() noexcept {
  std::uint32_t previous = word.exchange(0, std::memory_order_release);
  if (previous & kSleepers) pyconc::detail::futex_wake(word, 1, /*shared=*/true);
}

}  // namespace pyconc::multiprocessing::detail
