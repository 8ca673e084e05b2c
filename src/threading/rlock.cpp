#include "pyconc/threading/rlock.hpp"

#include <pthread.h>

#include "pyconc/errors.hpp"

namespace pyconc::threading {
namespace {
unsigned long self_id() noexcept { return static_cast<unsigned long>(pthread_self()); }
}  // namespace

bool RLock::acquire_until(const detail::Deadline& deadline) {
  unsigned long me = self_id();
  // Only this thread can have stored `me`, so a relaxed load is enough.
  if (owner_.load(std::memory_order_relaxed) == me) {
    ++count_;
    return true;
  }
  if (!lock_.acquire_until(deadline)) return false;
  owner_.store(me, std::memory_order_relaxed);
  count_ = 1;
  return true;
}

bool RLock::acquire(bool blocking) {
  return acquire_until(blocking ? detail::Deadline::never() : detail::Deadline::after(Seconds(0)));
}

bool RLock::acquire(bool blocking, Seconds timeout) {
  return acquire_until(detail::deadline_for(detail::TimeoutRule::threading_lock, blocking, timeout));
}

void RLock::release() {
  if (owner_.load(std::memory_order_relaxed) != self_id())
    throw RuntimeError("cannot release un-acquired lock");
  if (--count_ == 0) {
    owner_.store(0, std::memory_order_relaxed);
    lock_.release();
  }
}

bool RLock::is_owned() const noexcept {
  return owner_.load(std::memory_order_relaxed) == self_id();
}

std::uint64_t RLock::release_save() {
  if (!is_owned()) throw RuntimeError("cannot release un-acquired lock");
  std::uint64_t count = count_;
  count_ = 0;
  owner_.store(0, std::memory_order_relaxed);
  lock_.release();
  return count;
}

void RLock::acquire_restore(std::uint64_t count) {
  lock_.lock();
  owner_.store(self_id(), std::memory_order_relaxed);
  count_ = count;
}

}  // namespace pyconc::threading
