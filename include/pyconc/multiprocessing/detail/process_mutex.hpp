// A mutex that lives in shared memory and survives the death of its holder: the lock
// inside every process-shared object of pyconc.
#pragma once

#include <atomic>
#include <cstdint>

#include "pyconc/detail/timeout.hpp"

namespace pyconc::multiprocessing::detail {

/// A mutex in memory shared between processes. Its one 32-bit word holds the holder's
/// pid (0: free) and a "someone sleeps" bit, so the holder is always known, even when
/// it dies a nanosecond after taking the lock.
///
/// A waiter sleeps on the word in slices (kCheckInterval) and, after each, checks that
/// the recorded holder process is alive. When it is not, the waiter takes the lock
/// over and lock() returns Acquire::owner_died: the caller now holds the lock and
/// decides what to do about the state it guards (repair it and go on, or release and
/// report multiprocessing::OwnerDiedError). A lost futex wake-up costs at most one slice.
///
/// Not owned by a thread and not recursive: any process or thread may unlock() (as
/// Python's multiprocessing.Lock); the holder recorded is the process that locked.
///
/// Thread safety: every member may be called from any thread of any process mapping it.
/// Memory ordering: lock() acquires, unlock() releases.
struct ProcessMutex {
  enum class Acquire { ok, owner_died, timeout };

  static constexpr std::uint32_t kSleepers = 0x8000'0000u;
  static constexpr std::uint32_t kPidMask = 0x7fff'ffffu;
  /// How long a waiter sleeps before it checks the holder is alive.
  static constexpr double kCheckInterval = 0.05;

  std::atomic<std::uint32_t> word{0};

  /// Blocks until locked or `deadline` passes.
  Acquire lock(const pyconc::detail::Deadline& deadline = pyconc::detail::Deadline::never()) noexcept;
  /// Locks if free; returns false at once otherwise. Takes over a lock whose holder is
  /// dead only through lock().
  bool try_lock() noexcept;
  /// Releases (whoever holds it) and wakes a sleeper.
  void unlock() noexcept;
  /// The holder's pid, 0 when free.
  int holder() const noexcept { return static_cast<int>(word.load(std::memory_order_relaxed) & kPidMask); }
};
static_assert(sizeof(ProcessMutex) == 4);

/// Sleeps on a 32-bit word in shared memory while it equals `expected`, until woken,
/// the deadline, or kCheckInterval passed — for waits that must also watch a peer's
/// liveness. Returns false only when `deadline` passed.
bool shared_wait_slice(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                       const pyconc::detail::Deadline& deadline) noexcept;

}  // namespace pyconc::multiprocessing::detail
