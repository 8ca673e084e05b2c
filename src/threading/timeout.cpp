// The one conversion of a call's (block, timeout) into a Deadline, under the rule of the
// module that asks (threading's locks and waits, queue, multiprocessing).
#include "pyconc/detail/timeout.hpp"

#include "pyconc/errors.hpp"
#include "pyconc/threading/timeout.hpp"

namespace pyconc::detail {

Deadline deadline_for(TimeoutRule rule, bool block, std::optional<Seconds> timeout) {
  switch (rule) {
    case TimeoutRule::threading_lock: {
      if (!timeout) return block ? Deadline::never() : Deadline::after(Seconds(0));
      double t = timeout->count();
      if (!block && t != -1) throw ValueError("can't specify a timeout for a non-blocking call");
      if (t < 0 && t != -1) throw ValueError("timeout value must be a non-negative number");
      if (t > threading::TIMEOUT_MAX.count()) throw OverflowError("timeout value is too large");
      if (!block) return Deadline::after(Seconds(0));
      return t == -1 ? Deadline::never() : Deadline::after(*timeout);
    }
    case TimeoutRule::threading_wait:
      if (!timeout) return Deadline::never();
      if (timeout->count() > threading::TIMEOUT_MAX.count()) throw OverflowError("timeout value is too large");
      return Deadline::after(*timeout);
    case TimeoutRule::queue:
      if (!timeout) return Deadline::never();
      if (timeout->count() < 0) throw ValueError("'timeout' must be a non-negative number");
      return Deadline::after(*timeout);
    case TimeoutRule::multiprocessing: {
      if (!block) return Deadline::after(Seconds(0));
      if (!timeout) return Deadline::never();
      double t = timeout->count();
      if (std::isnan(t) || t < 0) t = 0;
      return Deadline::after(Seconds(t));
    }
  }
  return Deadline::never();
}

}  // namespace pyconc::detail
