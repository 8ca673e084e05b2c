// multiprocessing's process-shared Lock, RLock, Semaphore, BoundedSemaphore, Event,
// Condition and Barrier. Each lives in a /dev/shm segment of its own (SharedObject);
// every wait is a shared futex wait in slices that re-check whoever must act.
#include <pthread.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <string>

#include "pyconc/detail/futex.hpp"
#include "pyconc/errors.hpp"
#include "pyconc/threading/timeout.hpp"
#include "pyconc/multiprocessing/barrier.hpp"
#include "pyconc/multiprocessing/condition.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "pyconc/multiprocessing/detail/process_target.hpp"
#include "pyconc/multiprocessing/event.hpp"
#include "pyconc/multiprocessing/lock.hpp"
#include "pyconc/multiprocessing/rlock.hpp"
#include "pyconc/multiprocessing/semaphore.hpp"

namespace pyconc::multiprocessing {

using pyconc::detail::Deadline;
using detail::ProcessMutex;

namespace {

constexpr const char* kOwnerDied =
    "the process holding the lock died; the lock was reset (the data it guarded may be inconsistent)";

std::uint64_t self_thread() noexcept { return static_cast<std::uint64_t>(pthread_self()); }

// Locks an internal ProcessMutex; a dead holder left the small state it guards in an
// unknown step, which each caller's sweep repairs.
void lock_internal(ProcessMutex& mutex) noexcept { (void)mutex.lock(); }

}  // namespace

// ---- helpers --------------------------------------------------------------------------

namespace detail {

Deadline mp_acquire_deadline(bool block, const Seconds* timeout) noexcept {
  if (!block) return Deadline::after(Seconds(0));
  if (timeout == nullptr) return Deadline::never();
  double t = timeout->count();
  if (std::isnan(t) || t < 0) t = 0;
  return Deadline::after(Seconds(t));
}

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

}  // namespace detail

// ---- Lock -----------------------------------------------------------------------------

Lock::Lock() : state_(detail::SharedObject<detail::LockState>::create(0)) {}

bool Lock::acquire_until(const Deadline& deadline) {
  ProcessMutex& m = state_->mutex;
  if (m.try_lock()) return true;
  ProcessMutex::Acquire got;
  if (deadline.expired()) {
    if (!detail::take_over_if_dead(m)) return m.try_lock();
    got = ProcessMutex::Acquire::owner_died;
  } else {
    got = m.lock(deadline);
  }
  switch (got) {
    case ProcessMutex::Acquire::ok: return true;
    case ProcessMutex::Acquire::timeout: return false;
    case ProcessMutex::Acquire::owner_died: break;
  }
  m.unlock();
  throw OwnerDiedError(kOwnerDied);
}

bool Lock::acquire(bool block) { return acquire_until(detail::mp_acquire_deadline(block, nullptr)); }

bool Lock::acquire(bool block, Seconds timeout) { return acquire_until(detail::mp_acquire_deadline(block, &timeout)); }

void Lock::release() { detail::release_process_mutex(state_->mutex); }

bool Lock::is_owned() const noexcept { return state_->mutex.holder() == detail::self_pid(); }

void Lock::acquire_restore() {
  if (state_->mutex.lock() == ProcessMutex::Acquire::owner_died) throw OwnerDiedError(kOwnerDied);
}

// ---- RLock ----------------------------------------------------------------------------

RLock::RLock() : state_(detail::SharedObject<detail::RLockState>::create(0)) {}

bool RLock::is_owned() const noexcept {
  return state_->mutex.holder() == detail::self_pid() &&
         state_->thread.load(std::memory_order_relaxed) == self_thread();
}

void RLock::take(std::uint64_t count) noexcept {
  state_->thread.store(self_thread(), std::memory_order_relaxed);
  state_->count.store(count, std::memory_order_relaxed);
}

bool RLock::acquire_until(const Deadline& deadline) {
  if (is_owned()) {
    state_->count.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  ProcessMutex& m = state_->mutex;
  ProcessMutex::Acquire got;
  if (m.try_lock()) {
    got = ProcessMutex::Acquire::ok;
  } else if (deadline.expired()) {
    if (detail::take_over_if_dead(m)) got = ProcessMutex::Acquire::owner_died;
    else if (m.try_lock()) got = ProcessMutex::Acquire::ok;
    else return false;
  } else {
    got = m.lock(deadline);
  }
  if (got == ProcessMutex::Acquire::timeout) return false;
  if (got == ProcessMutex::Acquire::owner_died) {
    state_->thread.store(0, std::memory_order_relaxed);
    state_->count.store(0, std::memory_order_relaxed);
    m.unlock();
    throw OwnerDiedError(kOwnerDied);
  }
  take(1);
  return true;
}

bool RLock::acquire(bool block) { return acquire_until(detail::mp_acquire_deadline(block, nullptr)); }

bool RLock::acquire(bool block, Seconds timeout) { return acquire_until(detail::mp_acquire_deadline(block, &timeout)); }

void RLock::release() {
  if (!is_owned()) throw RuntimeError("attempt to release recursive lock not owned by thread");
  if (state_->count.fetch_sub(1, std::memory_order_relaxed) == 1) {
    state_->thread.store(0, std::memory_order_relaxed);
    state_->mutex.unlock();
  }
}

std::uint64_t RLock::release_save() {
  if (!is_owned()) throw RuntimeError("cannot release un-acquired lock");
  std::uint64_t count = state_->count.load(std::memory_order_relaxed);
  state_->count.store(0, std::memory_order_relaxed);
  state_->thread.store(0, std::memory_order_relaxed);
  state_->mutex.unlock();
  return count;
}

void RLock::acquire_restore(std::uint64_t count) {
  auto got = state_->mutex.lock();
  take(count);
  if (got == ProcessMutex::Acquire::owner_died) throw OwnerDiedError(kOwnerDied);
}

// ---- AnyLock --------------------------------------------------------------------------

// Plain dispatch, not std::visit: clang's analysis follows the lock through the
// declarations' attributes (each member is marked as not analysed in its body).
bool AnyLock::acquire() {
  if (auto* r = std::get_if<RLock>(&lock_)) return r->acquire();
  return std::get<Lock>(lock_).acquire();
}
bool AnyLock::acquire(bool block) {
  if (auto* r = std::get_if<RLock>(&lock_)) return r->acquire(block);
  return std::get<Lock>(lock_).acquire(block);
}
bool AnyLock::acquire(bool block, Seconds timeout) {
  if (auto* r = std::get_if<RLock>(&lock_)) return r->acquire(block, timeout);
  return std::get<Lock>(lock_).acquire(block, timeout);
}
void AnyLock::release() {
  if (auto* r = std::get_if<RLock>(&lock_)) return r->release();
  std::get<Lock>(lock_).release();
}
bool AnyLock::is_owned() const noexcept {
  return std::visit([](const auto& l) { return l.is_owned(); }, lock_);
}
std::uint64_t AnyLock::release_save() {
  if (auto* r = std::get_if<RLock>(&lock_)) return r->release_save();
  Lock& l = std::get<Lock>(lock_);
  if (!l.is_owned()) throw RuntimeError("cannot release un-acquired lock");
  l.release();
  return 1;
}
void AnyLock::acquire_restore(std::uint64_t saved) {
  if (auto* r = std::get_if<RLock>(&lock_)) return r->acquire_restore(saved);
  std::get<Lock>(lock_).acquire_restore();
}

// ---- Semaphore ------------------------------------------------------------------------

Semaphore::Semaphore(long long value, long long max_value) {
  if (value < 0) throw ValueError("semaphore initial value must be >= 0");
  if (value > Semaphore::kSemValueMax) throw OverflowError("semaphore initial value is larger than SEM_VALUE_MAX");
  state_ = detail::SharedObject<detail::SemaphoreState>::create(0);
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

bool Semaphore::acquire(bool block) { return acquire_until(detail::mp_acquire_deadline(block, nullptr)); }

bool Semaphore::acquire(bool block, Seconds timeout) {
  return acquire_until(detail::mp_acquire_deadline(block, &timeout));
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

// ---- Event ----------------------------------------------------------------------------

Event::Event() : state_(detail::SharedObject<detail::EventState>::create(0)) {}

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

// ---- Condition ------------------------------------------------------------------------

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

Condition::Condition(AnyLock lock)
    : lock_(std::move(lock)), state_(detail::SharedObject<CState>::create(0)) {}

bool Condition::wait(Seconds timeout) { return wait_until(Deadline::after(timeout)); }

bool Condition::wait_until(const Deadline& deadline) {
  if (!lock_.is_owned()) throw RuntimeError("cannot wait on un-acquired lock");
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

  std::uint64_t saved = lock_.release_save();
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
  lock_.acquire_restore(saved);
  return notified;
}

void Condition::notify(long long n) {
  if (!lock_.is_owned()) throw RuntimeError("cannot notify on un-acquired lock");
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

// ---- Barrier --------------------------------------------------------------------------

namespace {

using BState = detail::BarrierState;

std::int32_t* pids_of(const detail::SharedObject<BState>& object) {
  return static_cast<std::int32_t*>(object.extra());
}

void bump(BState& s) noexcept {
  s.seq.fetch_add(1, std::memory_order_release);
  if (s.sleepers > 0) pyconc::detail::futex_wake_all(s.seq, /*shared=*/true);
}

void break_barrier(BState& s) noexcept {
  s.state = BState::broken;
  bump(s);
}

// The last one out of a draining or resetting barrier refills it.
void exit_barrier(BState& s) noexcept {
  if (s.count == 0 && (s.state == BState::draining || s.state == BState::resetting)) {
    s.state = BState::filling;
    bump(s);
  }
}

// Parties whose process died inside wait(): they leave, and break a filling barrier.
void sweep_dead(BState& s, std::int32_t* pids) noexcept {
  const int me = detail::self_pid();
  for (std::uint32_t i = 0; i < s.parties && s.count > 0; ++i) {
    int pid = pids[i];
    if (pid == 0 || pid == me || detail::process_alive(pid)) continue;
    pids[i] = 0;
    --s.count;
    if (s.state == BState::filling) break_barrier(s);
    exit_barrier(s);
  }
}

// Sleeps until the barrier changes (or a slice passed), then relocks and sweeps.
// Returns false when `deadline` passed.
bool wait_change(BState& s, std::int32_t* pids, const Deadline& deadline) {
  std::uint32_t seq = s.seq.load(std::memory_order_relaxed);
  ++s.sleepers;
  s.mutex.unlock();
  bool in_time = detail::shared_wait_slice(s.seq, seq, deadline);
  lock_internal(s.mutex);
  --s.sleepers;
  sweep_dead(s, pids);
  return in_time;
}

class InternalGuard {
 public:
  explicit InternalGuard(BState& s, std::int32_t* pids) : s_(s) {
    if (s.mutex.lock() == ProcessMutex::Acquire::owner_died) sweep_dead(s, pids);
  }
  ~InternalGuard() { s_.mutex.unlock(); }
  InternalGuard(const InternalGuard&) = delete;
  InternalGuard& operator=(const InternalGuard&) = delete;

 private:
  BState& s_;
};

}  // namespace

Barrier::Barrier(long long parties, Action action, std::optional<Seconds> timeout) {
  if (parties < 1) throw ValueError("parties must be > 0");
  if (parties > (1 << 20)) throw ValueError("parties must be <= 2**20");
  state_ = detail::SharedObject<BState>::create(static_cast<std::size_t>(parties) * sizeof(std::int32_t));
  BState& s = *state_;
  s.parties = static_cast<std::uint32_t>(parties);
  if (timeout) {
    s.has_timeout = 1;
    s.timeout = timeout->count();
  }
  if (action != nullptr) {
    // Its module and offset: a spawn or forkserver child maps each module elsewhere.
    detail::CodeAddress where = detail::code_address(reinterpret_cast<const void*>(action));
    if (where.module.size() >= BState::kModuleSize)
      throw ValueError("the path of the module of the barrier's action is longer than " +
                       std::to_string(BState::kModuleSize - 1) + " bytes: '" + where.module + "'");
    std::memcpy(s.action_module, where.module.data(), where.module.size());
    s.action_offset = where.offset;
    s.has_action = 1;
    action_.set(action);
  }
}

// The action in this process: resolved from its module and offset the first time.
Barrier::Action Barrier::action() const {
  if (Action fn = action_.get()) return fn;
  const BState& s = *state_;  // set before any other handle existed; NUL-terminated
  detail::CodeAddress where{std::string(s.action_module, ::strnlen(s.action_module, BState::kModuleSize)),
                            static_cast<std::uintptr_t>(s.action_offset)};
  try {
    action_.set(reinterpret_cast<Action>(detail::resolve_code_address(where)));
  } catch (const ProcessError&) {
    throw ProcessError("the barrier's action lives in '" + where.module + "', which this process has not loaded");
  }
  return action_.get();
}

std::size_t Barrier::wait() {
  const BState& s = *state_;
  return wait_for(s.has_timeout ? std::optional<Seconds>(Seconds(s.timeout)) : std::nullopt);
}

std::size_t Barrier::wait(Seconds timeout) { return wait_for(timeout); }

std::size_t Barrier::wait_for(std::optional<Seconds> timeout) {
  BState& s = *state_;
  std::int32_t* pids = pids_of(state_);
  InternalGuard guard(s, pids);
  while (s.state == BState::draining || s.state == BState::resetting) wait_change(s, pids, Deadline::never());
  if (s.state == BState::broken) throw BrokenBarrierError("barrier is broken");
  // As Python's, the timeout counts from here.
  const Deadline deadline = pyconc::detail::optional_deadline(timeout);
  const std::uint32_t index = s.count++;
  pids[index] = detail::self_pid();
  auto leave = [&] {
    pids[index] = 0;
    --s.count;
    exit_barrier(s);
  };
  if (index + 1 == s.parties) {
    if (s.has_action) {
      try {
        action()();
      } catch (...) {
        break_barrier(s);
        leave();
        throw;
      }
    }
    s.state = BState::draining;
    bump(s);
  } else {
    while (s.state == BState::filling && pids[index] != 0) {
      if (!wait_change(s, pids, deadline) && s.state == BState::filling) {
        break_barrier(s);
        leave();
        throw BrokenBarrierError("barrier wait timed out; the barrier is now broken");
      }
    }
    if (s.state == BState::broken || s.state == BState::resetting) {
      leave();
      throw BrokenBarrierError("barrier was broken or reset while waiting");
    }
  }
  leave();
  return index;
}

void Barrier::reset() {
  BState& s = *state_;
  InternalGuard guard(s, pids_of(state_));
  if (s.count > 0) {
    if (s.state == BState::filling || s.state == BState::broken) s.state = BState::resetting;
  } else {
    s.state = BState::filling;
  }
  bump(s);
}

void Barrier::abort() {
  BState& s = *state_;
  InternalGuard guard(s, pids_of(state_));
  break_barrier(s);
}

std::size_t Barrier::n_waiting() const {
  BState& s = *state_;
  std::int32_t* pids = pids_of(state_);
  InternalGuard guard(s, pids);
  sweep_dead(s, pids);
  return s.state == BState::filling ? s.count : 0;
}

bool Barrier::broken() const {
  BState& s = *state_;
  std::int32_t* pids = pids_of(state_);
  InternalGuard guard(s, pids);
  sweep_dead(s, pids);
  return s.state == BState::broken;
}

}  // namespace pyconc::multiprocessing
