// The family's resource tracker. To be completed by the shared-memory work: until then
// names are neither recorded nor cleaned after crashes.
#include "pyconc/multiprocessing/detail/shared_segment.hpp"

namespace pyconc::multiprocessing::detail {

void track_segment(const std::string&) noexcept {}
void untrack_segment(const std::string&) noexcept {}

}  // namespace pyconc::multiprocessing::detail
