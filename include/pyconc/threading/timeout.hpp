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

/// Python's argument rules for Lock/RLock.acquire(blocking, timeout) (timeout -1 =
/// forever; other negatives, or a timeout with blocking=false, raise ValueError; above
/// TIMEOUT_MAX raises OverflowError). Returns the deadline to wait for.
Deadline lock_deadline(bool blocking, std::optional<Seconds> timeout);

/// Deadline for a Python `timeout=None`-style argument: nullopt waits forever, a
/// negative or zero timeout does not wait. Above TIMEOUT_MAX raises OverflowError.
Deadline optional_deadline(std::optional<Seconds> timeout);

}  // namespace pyconc::detail
