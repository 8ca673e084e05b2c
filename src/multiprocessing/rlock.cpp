// multiprocessing.RLock: a ProcessMutex with the owning thread and a recursion count in
// a segment of its own; and AnyLock, which dispatches to a Lock or an RLock.
#include "pyconc/multiprocessing/rlock.hpp"

#include <pthread.h>

#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "sync_internal.hpp"

namespace pyconc::multiprocessing {

using pyconc::detail::Deadline;
using detail::ProcessMutex;

namespace {
std::uint64_t self_thread() noexcept { return static_cast<std::uint64_t>(pthread_self()); }
}  // namespace

// ---- RLock ----------------------------------------------------------------------------

RLock::RLock() : MutexHandle(detail::SharedObject<detail::RLockState>::create(0)) {}

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
    throw OwnerDiedError(detail::kOwnerDied);
  }
  take(1);
  return true;
}

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
  if (got == ProcessMutex::Acquire::owner_died) throw OwnerDiedError(detail::kOwnerDied);
}

// ---- AnyLock --------------------------------------------------------------------------

// Plain dispatch, not std::visit: clang's analysis follows the lock through the
// declarations' attributes (each member is marked as not analysed in its body).
bool AnyLock::acquire_until(const Deadline& deadline) {
  if (auto* r = std::get_if<RLock>(&lock_)) return detail::LockAccess::acquire_until(*r, deadline);
  return detail::LockAccess::acquire_until(std::get<Lock>(lock_), deadline);
}
void AnyLock::release() {
  if (auto* r = std::get_if<RLock>(&lock_)) return r->release();
  std::get<Lock>(lock_).release();
}
bool AnyLock::is_owned() const noexcept {
  return std::visit([](const auto& l) { return detail::LockAccess::is_owned(l); }, lock_);
}
std::uint64_t AnyLock::release_save() {
  if (auto* r = std::get_if<RLock>(&lock_)) return detail::LockAccess::release_save(*r);
  Lock& l = std::get<Lock>(lock_);
  if (!detail::LockAccess::is_owned(l)) throw RuntimeError("cannot release un-acquired lock");
  l.release();
  return 1;
}
void AnyLock::acquire_restore(std::uint64_t saved) {
  if (auto* r = std::get_if<RLock>(&lock_)) return detail::LockAccess::acquire_restore(*r, saved);
  detail::LockAccess::acquire_restore(std::get<Lock>(lock_), saved);
}

}  // namespace pyconc::multiprocessing
