// multiprocessing.Event: a flag that processes can wait for.
#pragma once

#include <atomic>
#include <cstdint>

#include "pyconc/multiprocessing/lock.hpp"

namespace pyconc::multiprocessing {

namespace detail {
struct EventState {
  static constexpr std::uint32_t kKind = 4;
  // bit 0: the flag; bits 1..31: how many times set() turned it true (wraps).
  std::atomic<std::uint32_t> word{0};
  std::atomic<std::uint32_t> sleepers{0};
};
}  // namespace detail

/// A flag shared by the processes of a program (Python's multiprocessing.Event): it
/// starts false; set() makes it true and wakes every waiter; clear() makes it false;
/// wait() blocks until it is true.
///
///     multiprocessing::Event ready;
///     multiprocessing::Process p(prepare, ready);  // prepare() calls ready.set()
///     p.start();
///     if (!ready.wait(5s)) throw std::runtime_error("not ready in time");
///
/// wait() returns true when the flag was set during the wait, even if another process
/// cleared it again before the waiter ran; false on timeout (a negative timeout does
/// not wait). Nobody owns an Event, so a process that dies has nothing to recover.
///
/// Thread safety: every member may be called from any thread of any process holding a
/// handle. Copies are handles to the same event.
///
/// Memory ordering: everything done before set() is visible after a wait() or
/// is_set() that returned true.
///
/// Differences from Python: a cheap handle passable to any Process. set() and clear()
/// take no lock (one atomic operation; a futex wake only when someone sleeps).
class Event : public detail::ObjectHandle<detail::EventState> {
 public:
  Event();
  /// An empty handle that load() attaches to an existing event (see pickle::for_loading).
  explicit Event(pickle::for_loading_t tag) noexcept : SharedHandle(tag) {}

  bool is_set() const noexcept { return (state_->word.load(std::memory_order_acquire) & 1u) != 0; }
  void set() noexcept;
  void clear() noexcept;
  bool wait() { return wait_until(pyconc::detail::Deadline::never()); }
  bool wait(Seconds timeout);

  bool wait_until(const pyconc::detail::Deadline& deadline) noexcept;

};

}  // namespace pyconc::multiprocessing
