// The state machine follows CPython's threading.Barrier:
//
//   filling --(last party arrives, action ok)--> draining --(all left)--> filling
//      |  \--(timeout / action throws / abort)--> broken --(reset)--> filling
//      \--(reset while parties wait)--> resetting --(all left)--> filling
#include "pyconc/threading/barrier.hpp"

#include "pyconc/detail/lock_guard.hpp"

#include "pyconc/errors.hpp"

namespace pyconc::threading {
namespace {

// Python's check: a count below one (a negative int included) is a ValueError.
std::size_t checked_parties(long long parties) {
  if (parties < 1) throw ValueError("parties must be > 0");
  return static_cast<std::size_t>(parties);
}

}  // namespace

Barrier::Barrier(long long parties, std::function<void()> action, std::optional<Seconds> timeout)
    : parties_(checked_parties(parties)), action_(std::move(action)), timeout_(timeout) {}

std::size_t Barrier::wait() { return wait_for(timeout_); }

std::size_t Barrier::wait(Seconds timeout) { return wait_for(timeout); }

std::size_t Barrier::wait_for(std::optional<Seconds> timeout) {
  detail::LockGuard guard(mutex_);
  enter();
  // As Python's, the timeout counts from here: waiting for the previous cycle to drain
  // does not use it up.
  const detail::Deadline deadline = detail::deadline_for(detail::TimeoutRule::threading_wait, timeout);
  std::size_t index = count_++;
  try {
    if (index + 1 == parties_) release_all();
    else wait_released(deadline);
  } catch (...) {
    --count_;
    exit();
    throw;
  }
  --count_;
  exit();
  return index;
}

// Waits while a previous cycle drains or a reset completes.
void Barrier::enter() {
  while (state_ == State::draining || state_ == State::resetting) cv_.wait(mutex_, detail::Deadline::never());
  if (state_ == State::broken) throw BrokenBarrierError("barrier is broken");
}

void Barrier::release_all() {
  try {
    if (action_) action_();
  } catch (...) {
    break_barrier();
    throw;
  }
  state_ = State::draining;
  cv_.notify_all();
}

void Barrier::wait_released(const detail::Deadline& deadline) {
  while (state_ == State::filling) {
    if (!cv_.wait(mutex_, deadline) && state_ == State::filling) {
      break_barrier();
      throw BrokenBarrierError("barrier wait timed out; the barrier is now broken");
    }
  }
  if (state_ == State::broken || state_ == State::resetting)
    throw BrokenBarrierError("barrier was broken or reset while waiting");
}

// The last thread out of a draining or resetting barrier refills it.
void Barrier::exit() {
  if (count_ == 0 && (state_ == State::draining || state_ == State::resetting)) {
    state_ = State::filling;
    cv_.notify_all();
  }
}

void Barrier::break_barrier() {
  state_ = State::broken;
  cv_.notify_all();
}

void Barrier::reset() {
  detail::LockGuard guard(mutex_);
  if (count_ > 0) {
    if (state_ == State::filling || state_ == State::broken) state_ = State::resetting;
    // draining: leave it; the last one out refills the barrier.
  } else {
    state_ = State::filling;
  }
  cv_.notify_all();
}

void Barrier::abort() {
  detail::LockGuard guard(mutex_);
  break_barrier();
}

std::size_t Barrier::n_waiting() const {
  detail::LockGuard guard(mutex_);
  return state_ == State::filling ? count_ : 0;
}

bool Barrier::broken() const {
  detail::LockGuard guard(mutex_);
  return state_ == State::broken;
}

}  // namespace pyconc::threading
