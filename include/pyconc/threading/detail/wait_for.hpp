// Condition.wait_for(predicate[, timeout]), once for threading::Condition and
// multiprocessing::Condition.
#pragma once

#include "pyconc/detail/timeout.hpp"

namespace pyconc::detail {

/// Python's Condition.wait_for: evaluates `predicate` first; while it is falsy and
/// `deadline` has not passed, waits on `cond` (cond.wait_until(deadline): the caller
/// holds its lock) and evaluates it again. Returns the last value of `predicate`, so a
/// timed-out wait returns its falsy value. Every wait runs against the one deadline,
/// however many wakeups there are.
template <class Cond, class Predicate>
auto condition_wait_for(Cond& cond, Predicate& predicate, const Deadline& deadline) -> decltype(predicate()) {
  auto result = predicate();
  while (!result) {
    if (deadline.expired()) break;
    cond.wait_until(deadline);
    result = predicate();
  }
  return result;
}

}  // namespace pyconc::detail
