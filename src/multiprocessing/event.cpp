// multiprocessing.Event: one shared futex word holding the flag and a count of the
// times it was set, so a waiter notices a set() even when a clear() followed at once.
#include "pyconc/multiprocessing/event.hpp"

#include "pyconc/detail/futex.hpp"

namespace pyconc::multiprocessing {

using pyconc::detail::Deadline;

Event::Event() : SharedHandle(detail::SharedObject<detail::EventState>::create(0)) {}

void Event::set() noexcept {
  auto& s = *state_;
  std::uint32_t w = s.word.load(std::memory_order_relaxed);
  do {
    if (w & 1u) return;
  } while (!s.word.compare_exchange_weak(w, (w + 2u) | 1u, std::memory_order_seq_cst, std::memory_order_relaxed));
  if (s.sleepers.load(std::memory_order_seq_cst) > 0) pyconc::detail::futex_wake_all(s.word, /*shared=*/true);
}

void Event::clear() noexcept { state_->word.fetch_and(~1u, std::memory_order_relaxed); }

bool Event::wait(Seconds timeout) { return wait_until(Deadline::after(timeout)); }

bool Event::wait_until(const Deadline& deadline) noexcept {
  auto& s = *state_;
  std::uint32_t start = s.word.load(std::memory_order_acquire);
  if (start & 1u) return true;
  s.sleepers.fetch_add(1, std::memory_order_seq_cst);
  bool result = false;
  for (;;) {
    std::uint32_t now = s.word.load(std::memory_order_seq_cst);
    if ((now & 1u) || (now >> 1) != (start >> 1)) {  // set, or set and cleared meanwhile
      result = true;
      break;
    }
    if (!detail::shared_wait_slice(s.word, now, deadline)) {
      result = (s.word.load(std::memory_order_acquire) & 1u) != 0;
      break;
    }
  }
  s.sleepers.fetch_sub(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  return result;
}

}  // namespace pyconc::multiprocessing
