// The helpers of sync_internal.hpp: taking over a ProcessMutex whose holder died, and
// the checked release of one.
#include "sync_internal.hpp"

#include "pyconc/detail/futex.hpp"
#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"

namespace pyconc::multiprocessing::detail {

bool take_over_if_dead(ProcessMutex& mutex) noexcept {
  std::uint32_t current = mutex.word.load(std::memory_order_relaxed);
  int holder = static_cast<int>(current & ProcessMutex::kPidMask);
  if (holder == 0 || process_alive(holder)) return false;
  const auto me = static_cast<std::uint32_t>(self_pid());
  return mutex.word.compare_exchange_strong(current, me | (current & ProcessMutex::kSleepers),
                                            std::memory_order_acquire, std::memory_order_relaxed);
}

void release_process_mutex(ProcessMutex& mutex) {
  std::uint32_t current = mutex.word.load(std::memory_order_relaxed);
  do {
    if ((current & ProcessMutex::kPidMask) == 0) throw ValueError("semaphore or lock released too many times");
  } while (!mutex.word.compare_exchange_weak(current, 0, std::memory_order_release, std::memory_order_relaxed));
  if (current & ProcessMutex::kSleepers) pyconc::detail::futex_wake(mutex.word, 1, /*shared=*/true);
}

}  // namespace pyconc::multiprocessing::detail
