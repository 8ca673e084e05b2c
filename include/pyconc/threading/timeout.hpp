// threading's timeout constant (the rules that turn a timeout into a deadline are
// detail::deadline_for's, in pyconc/detail/timeout.hpp).
#pragma once

#include <optional>

#include "pyconc/detail/timeout.hpp"

namespace pyconc::threading {

/// The largest timeout a blocking call accepts (Python's threading.TIMEOUT_MAX);
/// waiting that long means waiting forever.
inline constexpr Seconds TIMEOUT_MAX{9223372036.0};

}  // namespace pyconc::threading
