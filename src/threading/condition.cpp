#include "pyconc/threading/condition.hpp"

#include "pyconc/errors.hpp"

#include <limits>

namespace pyconc::threading {

const Condition::Ops Condition::lock_ops = {
    [](void* lock, const detail::Deadline& deadline) PYCONC_NO_THREAD_SAFETY_ANALYSIS {
      return static_cast<Lock*>(lock)->acquire_until(deadline);
    },
    [](void* lock) PYCONC_NO_THREAD_SAFETY_ANALYSIS { static_cast<Lock*>(lock)->release(); },
    [](void* lock) PYCONC_NO_THREAD_SAFETY_ANALYSIS {
      // Python's Condition._is_owned for a plain Lock: held by somebody.
      Lock& l = *static_cast<Lock*>(lock);
      if (l.try_lock()) {
        l.release();
        return false;
      }
      return true;
    },
    [](void* lock) PYCONC_NO_THREAD_SAFETY_ANALYSIS -> std::uint64_t {
      static_cast<Lock*>(lock)->release();
      return 0;
    },
    [](void* lock, std::uint64_t) PYCONC_NO_THREAD_SAFETY_ANALYSIS {
      static_cast<Lock*>(lock)->lock();
    },
};

const Condition::Ops Condition::rlock_ops = {
    [](void* lock, const detail::Deadline& deadline) PYCONC_NO_THREAD_SAFETY_ANALYSIS {
      return static_cast<RLock*>(lock)->acquire_until(deadline);
    },
    [](void* lock) PYCONC_NO_THREAD_SAFETY_ANALYSIS { static_cast<RLock*>(lock)->release(); },
    [](void* lock) { return static_cast<RLock*>(lock)->is_owned(); },
    [](void* lock) { return static_cast<RLock*>(lock)->release_save(); },
    [](void* lock, std::uint64_t saved) { static_cast<RLock*>(lock)->acquire_restore(saved); },
};

Condition::Condition() : own_(std::in_place), lock_(&*own_), ops_(&rlock_ops) {}
Condition::Condition(Lock& lock) : lock_(&lock), ops_(&lock_ops) {}
Condition::Condition(RLock& lock) : lock_(&lock), ops_(&rlock_ops) {}

bool Condition::acquire_until(const detail::Deadline& deadline) {
  return ops_->acquire(lock_, deadline);
}
bool Condition::acquire(bool blocking) {
  return acquire_until(blocking ? detail::Deadline::never() : detail::Deadline::after(Seconds(0)));
}
bool Condition::acquire(bool blocking, Seconds timeout) {
  return acquire_until(detail::deadline_for(detail::TimeoutRule::threading_lock, blocking, timeout));
}
void Condition::release() { ops_->release(lock_); }

bool Condition::wait(Seconds timeout) {
  return wait_until(detail::deadline_for(detail::TimeoutRule::threading_wait, timeout));
}

bool Condition::wait_until(const detail::Deadline& deadline) {
  if (!ops_->is_owned(lock_)) throw RuntimeError("cannot wait on un-acquired lock");
  Waiter w;
  w.linked = true;
  w.prev = tail_;
  if (tail_) tail_->next = &w; else head_ = &w;
  tail_ = &w;

  std::uint64_t saved = ops_->release_save(lock_);
  bool notified = true;
  while (w.signaled.load(std::memory_order_acquire) == 0) {
    if (!detail::futex_wait(w.signaled, 0, deadline)) {
      notified = w.signaled.load(std::memory_order_acquire) != 0;
      break;
    }
  }
  ops_->acquire_restore(lock_, saved);
  // Holding the lock again: a notify() that raced our timeout has unlinked us already
  // and counts; otherwise we leave the queue unnotified.
  if (!notified) {
    if (w.linked) unlink(&w);
    else notified = true;
  }
  return notified;
}

void Condition::unlink(Waiter* w) noexcept {
  if (w->prev) w->prev->next = w->next; else head_ = w->next;
  if (w->next) w->next->prev = w->prev; else tail_ = w->prev;
  w->prev = w->next = nullptr;
  w->linked = false;
}

void Condition::notify(long long n) {
  if (!ops_->is_owned(lock_)) throw RuntimeError("cannot notify on un-acquired lock");
  while (head_ && n > 0) {
    Waiter* w = head_;
    unlink(w);
    // The waiter cannot return before it re-takes the lock we hold, so `w` stays valid.
    w->signaled.store(1, std::memory_order_release);
    detail::futex_wake(w->signaled, 1);
    --n;
  }
}

void Condition::notify_all() { notify(std::numeric_limits<long long>::max()); }

}  // namespace pyconc::threading
