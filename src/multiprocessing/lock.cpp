// multiprocessing.Lock: one ProcessMutex in a segment of its own, whose holder's death
// is noticed and reported (OwnerDiedError) by the next to acquire it.
#include "pyconc/multiprocessing/lock.hpp"

#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "sync_internal.hpp"

namespace pyconc::multiprocessing {

using pyconc::detail::Deadline;
using detail::ProcessMutex;

Lock::Lock() : MutexHandle(detail::SharedObject<detail::LockState>::create(0)) {}

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
  throw OwnerDiedError(detail::kOwnerDied);
}

void Lock::release() { detail::release_process_mutex(state_->mutex); }

bool Lock::is_owned() const noexcept { return state_->mutex.holder() == detail::self_pid(); }

void Lock::acquire_restore(std::uint64_t) {
  if (state_->mutex.lock() == ProcessMutex::Acquire::owner_died) throw OwnerDiedError(detail::kOwnerDied);
}

}  // namespace pyconc::multiprocessing
