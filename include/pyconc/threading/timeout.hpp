// threading's timeout constants and Python's rules for lock timeouts.
#pragma once

#include <optional>

#include "pyconc/detail/timeout.hpp"

namespace pyconc::threading {

/// The largest timeout a blocking call accepts (Python's threading.TIMEOUT_MAX);
/// waiting that long means waiting forever.
inline constexpr Seconds TIMEOUT_MAX{9223372036.0};

}  // namespace pyconc::threading

namespace pyconc::detail {

/// Python's argument rules for Lock/RLock.acquire(blocking, timeout): see
/// TimeoutRule::threading_lock.
inline Deadline lock_deadline(bool blocking, std::optional<Seconds> timeout) {
  return deadline_for(TimeoutRule::threading_lock, blocking, timeout);
}

/// Deadline for a Python `timeout=None`-style argument: see TimeoutRule::threading_wait.
inline Deadline optional_deadline(std::optional<Seconds> timeout) {
  return deadline_for(TimeoutRule::threading_wait, true, timeout);
}

}  // namespace pyconc::detail
