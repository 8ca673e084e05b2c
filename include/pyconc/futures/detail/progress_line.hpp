// The text of a progress bar's line (futures::ProgressBar draws it; tests read it).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pyconc/futures/progress.hpp"

namespace pyconc::futures::detail {

/// One line of a bar, without '\r' or newline:
///   "desc: 42%|████▎     | 420/1000 [00:03<00:04, 140.20it/s]"  (a total)
///   "desc: 420it [00:03, 140.20it/s]"                            (no total)
/// `ncols` is the width of the whole line in columns; without it the bar has 10 cells.
std::string progress_line(const ProgressInfo& info, std::string_view desc, std::optional<int> ncols);

/// "mm:ss", or "h:mm:ss" from an hour on (tqdm's format_interval).
std::string format_interval(double seconds);

}  // namespace pyconc::futures::detail
