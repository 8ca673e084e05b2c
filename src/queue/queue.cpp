#include "pyconc/queue/basic_queue.hpp"

namespace pyconc::detail {

Deadline queue_deadline(std::optional<Seconds> timeout) {
  if (!timeout) return Deadline::never();
  if (timeout->count() < 0) throw ValueError("'timeout' must be a non-negative number");
  return Deadline::after(*timeout);
}

}  // namespace pyconc::detail
