// Wake-ups between the two ends of a Pipe: the doorbell that wakes a sleeping reader,
// the futex word that wakes a writer waiting for room, and the liveness socket.
//
// Waking a reader: the reader spins a few microseconds, then registers in `sleepers`
// and poll()s its eventfd (and the liveness socket). A writer, after publishing, rings
// the eventfd only when someone sleeps or fileno() was exposed (`watched`), and only
// once until a reader clears `rung` (Dekker pattern with seq_cst fences on both sides).
// A writer waiting for room sleeps on the futex word `space_epoch`, in slices that
// check the peer's socket; the reader bumps and wakes it when `writer_waiting`.
//
// Liveness: a socketpair between the two ends carries no data; POLLHUP/EOF on it means
// every process holding the other end has closed it or died.
#pragma once

#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>

#include "pyconc/detail/futex.hpp"
#include "pyconc/detail/timeout.hpp"
#include "connection_ring.hpp"

namespace pyconc::multiprocessing::connection::detail {

// The longest a sleeper waits before it looks at the peer's socket and its deadline.
constexpr auto kSlice = std::chrono::milliseconds(50);
// How long a waiter spins before it sleeps. No sched_yield phase: on a loaded machine a
// yield can cost a whole scheduling round (milliseconds), and a process that spins long
// loses the wake-up priority the scheduler gives sleepers.
constexpr auto kSpinFor = std::chrono::nanoseconds(20'000);

/// Rings an eventfd doorbell.
inline void ring_doorbell(int efd) noexcept {
  std::uint64_t one = 1;
  ssize_t r;
  do r = ::write(efd, &one, sizeof one);
  while (r < 0 && errno == EINTR);
}

/// Sender side, after publishing: rings the reader's doorbell when someone sleeps on it
/// or watches fileno(), once until a reader settles it.
inline void wake_reader(Direction& out, int efd_out) noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if ((out.sleepers.load(std::memory_order_relaxed) || out.watched.load(std::memory_order_relaxed)) &&
      out.rung.load(std::memory_order_relaxed) == 0 && out.rung.exchange(1) == 0)
    ring_doorbell(efd_out);
}

/// Receiver side, after consuming: wakes a writer waiting for room.
inline void wake_writer(Direction& in) noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (in.writer_waiting.load(std::memory_order_relaxed)) {
    in.space_epoch.fetch_add(1);
    pyconc::detail::futex_wake_all(in.space_epoch, true);
  }
}

/// Receiver side, after a wake-up: clears the doorbell, then re-rings it if data is
/// still there and someone else sleeps or watches fileno().
void settle(Direction& in, int efd_in) noexcept;

/// fileno() was exposed: from now on the doorbell is readable exactly while data waits.
void watch(Direction& in, int efd_in) noexcept;

/// Whether every holder of the other end is gone (EOF/HUP on the liveness socket).
bool peer_gone(int sock) noexcept;

/// The timeout of one poll: what the deadline leaves, and with `sliced` at most kSlice.
timespec slice_for(const pyconc::detail::Deadline& deadline, bool sliced);

}  // namespace pyconc::multiprocessing::connection::detail
