// multiprocessing.Condition: 250 waiter slots in a segment of their own, each a futex
// word a notifier flips, handed out in arrival order under an internal ProcessMutex; the
// user's lock is released around the wait through AnyLock's hooks.
#include "pyconc/multiprocessing/condition.hpp"

#include <climits>

#include "pyconc/detail/futex.hpp"
#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"

namespace pyconc::multiprocessing {

using pyconc::detail::Deadline;
using detail::ProcessMutex;

using CState = detail::ConditionState;

namespace {
// Locks the condition's internal mutex; when its holder died mid-update, the count of
// waiters is rebuilt from the slots.
void lock_condition(CState& s) noexcept {
  if (s.mutex.lock() != ProcessMutex::Acquire::owner_died) return;
  std::uint32_t waiting = 0;
  for (auto& slot : s.slots) waiting += slot.state.load(std::memory_order_relaxed) == CState::kWaiting;
  s.waiting = waiting;
}
}  // namespace

Condition::Condition() : Condition(AnyLock()) {}

Condition::Condition(AnyLock lock) : SharedHandle(detail::SharedObject<CState>::create(0)), lock_(std::move(lock)) {}

bool Condition::wait(Seconds timeout) { return wait_until(Deadline::after(timeout)); }

bool Condition::wait_until(const Deadline& deadline) {
  if (!detail::LockAccess::is_owned(lock_)) throw RuntimeError("cannot wait on un-acquired lock");
  CState& s = *state_;
  const int me = detail::self_pid();
  CState::Slot* slot = nullptr;
  lock_condition(s);
  for (auto& candidate : s.slots)
    if (candidate.state.load(std::memory_order_relaxed) == CState::kFree) {
      slot = &candidate;
      break;
    }
  if (slot == nullptr) {
    // Full: free the slots of waiters that died, waiting or notified (one killed after
    // its notify, before it took its slot back).
    for (auto& candidate : s.slots) {
      auto state = candidate.state.load(std::memory_order_relaxed);
      if ((state == CState::kWaiting || state == CState::kNotified) && !detail::process_alive(candidate.pid)) {
        candidate.state.store(CState::kFree, std::memory_order_relaxed);
        if (state == CState::kWaiting) --s.waiting;
        if (slot == nullptr) slot = &candidate;
      }
    }
  }
  if (slot == nullptr) {
    s.mutex.unlock();
    throw RuntimeError("too many waiters on one multiprocessing.Condition (at most 250)");
  }
  slot->pid = me;
  slot->ticket = s.next_ticket++;
  slot->state.store(CState::kWaiting, std::memory_order_relaxed);
  ++s.waiting;
  s.mutex.unlock();

  std::uint64_t saved = detail::LockAccess::release_save(lock_);
  bool notified = false;
  for (;;) {
    if (slot->state.load(std::memory_order_acquire) == CState::kNotified) {
      notified = true;
      break;
    }
    if (!detail::shared_wait_slice(slot->state, CState::kWaiting, deadline)) break;
  }
  lock_condition(s);
  if (slot->state.load(std::memory_order_relaxed) == CState::kNotified) notified = true;
  else --s.waiting;  // timed out: still counted as waiting
  slot->state.store(CState::kFree, std::memory_order_relaxed);
  slot->pid = 0;
  s.mutex.unlock();
  detail::LockAccess::acquire_restore(lock_, saved);
  return notified;
}

void Condition::notify(long long n) {
  if (!detail::LockAccess::is_owned(lock_)) throw RuntimeError("cannot notify on un-acquired lock");
  CState& s = *state_;
  lock_condition(s);
  while (n > 0 && s.waiting > 0) {
    CState::Slot* oldest = nullptr;
    for (auto& candidate : s.slots)
      if (candidate.state.load(std::memory_order_relaxed) == CState::kWaiting &&
          (oldest == nullptr || candidate.ticket < oldest->ticket))
        oldest = &candidate;
    if (oldest == nullptr) {  // the count was off (a notifier died mid-way): repair it
      s.waiting = 0;
      break;
    }
    --s.waiting;
    if (!detail::process_alive(oldest->pid)) {
      oldest->state.store(CState::kFree, std::memory_order_relaxed);
      continue;
    }
    oldest->state.store(CState::kNotified, std::memory_order_release);
    pyconc::detail::futex_wake(oldest->state, 1, /*shared=*/true);
    --n;
  }
  s.mutex.unlock();
}

void Condition::notify_all() { notify(LLONG_MAX); }

}  // namespace pyconc::multiprocessing
