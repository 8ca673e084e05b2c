// The C++ peers of lock_2threads (bench/workloads/lock_2threads.cpp): 2 threads each do
// N times: lock, increment a shared counter, unlock. Each function runs one peer under
// the same driver as pyconc (bench::two_threads), checks the counter and prints its line.
#pragma once

#include <absl/synchronization/mutex.h>

#include <atomic>
#include <mutex>
#include <string_view>

#include "workload.hpp"

namespace peers {

/// std::mutex (pthread_mutex_t in libstdc++) held through std::scoped_lock.
inline void std_mutex(std::string_view impl, long long n) {
  std::mutex m;
  bench::lock_2threads(impl, n, [&](long long& counter) {
    std::scoped_lock with(m);
    ++counter;
  });
}

/// absl::Mutex held through absl::MutexLock (a reader-writer mutex; used here for
/// exclusive locking only).
inline void absl_mutex(std::string_view impl, long long n) {
  absl::Mutex m;
  bench::lock_2threads(impl, n, [&](long long& counter) {
    absl::MutexLock with(&m);
    ++counter;
  });
}

/// No lock at all: a relaxed atomic fetch_add on the counter, the hardware's floor for
/// the same shared increment. Not a lock; it cannot protect more than one word.
inline void atomic_fetch_add_nolock(std::string_view impl, long long n) {
  bench::lock_2threads(impl, n, [](long long& counter) {
    std::atomic_ref<long long>(counter).fetch_add(1, std::memory_order_relaxed);
  });
}

}  // namespace peers
