#include "pyconc/threading/event.hpp"

#include "pyconc/detail/lock_guard.hpp"

namespace pyconc::threading {

void Event::set() {
  detail::LockGuard guard(mutex_);
  flag_.store(true, std::memory_order_release);
  ++generation_;
  cv_.notify_all();
}

void Event::clear() {
  detail::LockGuard guard(mutex_);
  flag_.store(false, std::memory_order_release);
}

bool Event::wait(Seconds timeout) {
  // As Python's, a set flag returns at once, before the timeout is looked at.
  if (is_set()) return true;
  return wait_until(detail::deadline_for(detail::TimeoutRule::threading_wait, timeout));
}

bool Event::wait_until(const detail::Deadline& deadline) {
  if (is_set()) return true;
  detail::LockGuard guard(mutex_);
  std::uint64_t seen = generation_;
  while (!flag_.load(std::memory_order_relaxed) && generation_ == seen) {
    if (!cv_.wait(mutex_, deadline)) break;
  }
  return flag_.load(std::memory_order_relaxed) || generation_ != seen;
}

}  // namespace pyconc::threading
