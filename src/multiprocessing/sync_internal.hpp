// What the sources of multiprocessing's synchronisation primitives (lock.cpp, rlock.cpp,
// semaphore.cpp, event.cpp, condition.cpp, barrier.cpp) share: the recovery from a
// holder that died, and the release of a ProcessMutex that checks it was held.
#pragma once

#include "pyconc/multiprocessing/detail/process_mutex.hpp"

namespace pyconc::multiprocessing::detail {

/// The message of the OwnerDiedError an acquire raises when the holder died.
inline constexpr const char* kOwnerDied =
    "the process holding the lock died; the lock was reset (the data it guarded may be inconsistent)";

/// For a try-acquire that failed: when the recorded holder of `mutex` is dead, takes
/// it over (the caller now holds it) and returns true.
bool take_over_if_dead(ProcessMutex& mutex) noexcept;

/// Releases a ProcessMutex; ValueError("semaphore or lock released too many times")
/// when it is free.
void release_process_mutex(ProcessMutex& mutex);

}  // namespace pyconc::multiprocessing::detail
