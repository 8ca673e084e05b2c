// Timeouts and deadlines shared by every module.
//
// A public `timeout` is a `pyconc::Seconds` (std::chrono::duration<double>), so `1s`,
// `250ms` and `0.5s` all convert to it. Internally every wait runs against a
// `detail::Deadline` on the monotonic clock (steady_clock == CLOCK_MONOTONIC).
#pragma once

#include <chrono>
#include <cmath>
#include <ctime>
#include <optional>

namespace pyconc {

/// The type of every `timeout` parameter: seconds as a double, like Python's floats.
using Seconds = std::chrono::duration<double>;

namespace detail {

/// A point on the monotonic clock, or "never" (wait forever).
class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  /// Never expires.
  static constexpr Deadline never() noexcept { return Deadline(); }

  /// `timeout` from now. Negative or zero: already expired. NaN or a timeout beyond
  /// ~100 years: never (no clock overflow). Callers validate Python's rules first.
  static Deadline after(Seconds timeout) noexcept {
    if (std::isnan(timeout.count()) || timeout.count() > kForeverSeconds) return never();
    if (timeout.count() <= 0) return Deadline(Clock::now());
    return Deadline(Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout));
  }

  /// Absolute point on the monotonic clock.
  static constexpr Deadline at(Clock::time_point when) noexcept { return Deadline(when); }

  constexpr bool is_never() const noexcept { return never_; }
  bool expired() const noexcept { return !never_ && Clock::now() >= when_; }
  constexpr Clock::time_point when() const noexcept { return when_; }

  /// Seconds left (never negative); only meaningful when !is_never().
  Seconds remaining() const noexcept {
    if (never_) return Seconds(kForeverSeconds);
    auto left = when_ - Clock::now();
    return left.count() > 0 ? std::chrono::duration_cast<Seconds>(left) : Seconds(0);
  }

  /// As a timespec for FUTEX_WAIT_BITSET / clock_nanosleep on CLOCK_MONOTONIC.
  timespec as_timespec() const noexcept {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when_.time_since_epoch()).count();
    if (ns < 0) ns = 0;
    return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  }

 private:
  static constexpr double kForeverSeconds = 100.0 * 365 * 24 * 3600;
  constexpr Deadline() noexcept = default;
  constexpr explicit Deadline(Clock::time_point when) noexcept : when_(when), never_(false) {}
  Clock::time_point when_{};
  bool never_ = true;
};

/// Which module's rule turns a call's (block, timeout) into a deadline
/// (docs/conventions.md, "Timeouts"). Each is Python's own:
enum class TimeoutRule {
  /// threading.Lock/RLock.acquire(blocking, timeout): timeout -1 (or none) waits
  /// forever; another negative timeout, or a timeout with blocking=false, raises
  /// ValueError; one above threading.TIMEOUT_MAX raises OverflowError.
  threading_lock,
  /// A `timeout=None` argument of threading and futures (wait, join, result): none
  /// waits forever; negative or zero does not wait; above TIMEOUT_MAX raises
  /// OverflowError. `block` is not looked at.
  threading_wait,
  /// queue.Queue.put/get(block=True, timeout): none waits forever; a negative timeout
  /// raises ValueError("'timeout' must be a non-negative number"). `block` is not
  /// looked at (an unblocking call never asks for a deadline).
  queue,
  /// multiprocessing's acquire(block, timeout): block=false does not wait and ignores
  /// the timeout; a negative (or NaN) timeout counts as 0; none waits forever.
  multiprocessing,
};

/// The deadline for (block, timeout) under `rule`, or the rule's exception.
Deadline deadline_for(TimeoutRule rule, bool block, std::optional<Seconds> timeout);
/// The same for a call that blocks (the rules that look at `block` see true).
inline Deadline deadline_for(TimeoutRule rule, std::optional<Seconds> timeout) {
  return deadline_for(rule, true, timeout);
}

}  // namespace detail
}  // namespace pyconc
