#include "pyconc/futures/future.hpp"

#include <algorithm>
#include <cstdio>
#include <string>

#include "pyconc/detail/futex.hpp"

namespace pyconc::futures::detail {

namespace {
const char* state_name(std::uint32_t s) {
  switch (s) {
    case FutureCore::kPending: return "PENDING";
    case FutureCore::kRunning: return "RUNNING";
    case FutureCore::kCancelled: return "CANCELLED";
    case FutureCore::kCancelledAndNotified: return "CANCELLED_AND_NOTIFIED";
    default: return "FINISHED";  // finished, or being finished by another setter
  }
}
}  // namespace

std::uint64_t FutureCore::next_serial() noexcept {
  static std::atomic<std::uint64_t> threads{0};
  thread_local std::uint64_t next = threads.fetch_add(1, std::memory_order_relaxed) << 40;
  return next++;
}

bool FutureCore::cancel() {
  std::vector<std::function<void()>> callbacks;
  {
    pyconc::detail::LockGuard guard(lock_);
    std::uint32_t s = state_.load(std::memory_order_acquire);
    for (;;) {
      if (s == kCancelled || s == kCancelledAndNotified) return true;
      if (s != kPending) return false;  // running, being finished, or finished
      if (!withdraw()) return false;     // its executor could not take it back
      // A compare-and-swap: an executor may be moving it to running without the lock.
      if (state_.compare_exchange_weak(s, kCancelled, std::memory_order_seq_cst, std::memory_order_acquire)) break;
    }
    if (hooks_) callbacks.swap(hooks_->callbacks);
  }
  // As Python: result() waiters and callbacks learn now; wait()/as_completed() listeners
  // when the executor calls set_running_or_notify_cancel().
  wake_and_call(callbacks);
  return true;
}

bool FutureCore::set_running_or_notify_cancel() {
  std::uint32_t s = kPending;
  if (state_.compare_exchange_strong(s, kRunning, std::memory_order_acq_rel, std::memory_order_acquire)) return true;
  if (s == kCancelled) {
    pyconc::detail::LockGuard guard(lock_);
    // Under the lock: listeners are added under it, so each is notified exactly once.
    if (state_.compare_exchange_strong(s, kCancelledAndNotified, std::memory_order_seq_cst, std::memory_order_acquire)) {
      notify_listeners();
      if (sleepers_.load(std::memory_order_seq_cst) != 0) pyconc::detail::futex_wake_all(state_);
      return false;
    }
  }
  if (s == kPending || s == kFinishingFromPending) {
    // A setter is (or was, and gave up) finishing it: as Python, whose lock would have
    // ordered the two, settle on what the state becomes.
    while ((s = state_.load(std::memory_order_acquire)) == kFinishingFromPending) pyconc::detail::cpu_relax();
    if (s == kPending) return set_running_or_notify_cancel();
  }
  throw RuntimeError(std::string("Future in unexpected state: ") + state_name(s));
}

void FutureCore::set_exception(std::exception_ptr error) {
  if (!error) throw ValueError("set_exception() needs an exception");
  finish([&] { exception_ = std::move(error); });
}

void FutureCore::begin_finish() {
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    std::uint32_t to;
    if (s == kPending) to = kFinishingFromPending;
    else if (s == kRunning) to = kFinishingFromRunning;
    else throw InvalidStateError(std::string(state_name(s)) + ": the future is already done");
    if (state_.compare_exchange_weak(s, to, std::memory_order_acquire, std::memory_order_relaxed)) return;
  }
}

void FutureCore::abort_finish() noexcept {
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  state_.store(s == kFinishingFromPending ? kPending : kRunning, std::memory_order_release);
}

void FutureCore::end_finish() {
  state_.store(kFinished, std::memory_order_seq_cst);
  std::vector<std::function<void()>> callbacks;
  // hooked_ is set before a hook is added and the state checked after (both seq_cst):
  // either we see it set, or the adder sees kFinished and does not add.
  if (hooked_.load(std::memory_order_seq_cst)) {
    pyconc::detail::LockGuard guard(lock_);
    notify_listeners();
    if (hooks_) callbacks.swap(hooks_->callbacks);
  }
  wake_and_call(callbacks);
}

void FutureCore::notify_listeners() {
  if (!hooks_) return;
  for (FutureListener* l : hooks_->listeners) l->on_done(*this);
  hooks_->listeners.clear();
}

void FutureCore::wake_and_call(std::vector<std::function<void()>>& callbacks) {
  if (sleepers_.load(std::memory_order_seq_cst) != 0) pyconc::detail::futex_wake_all(state_);
  for (auto& cb : callbacks) {
    try {
      cb();
    } catch (...) {
      std::string text = "exception calling callback for future: " + describe_exception(std::current_exception()) + "\n";
      std::fputs(text.c_str(), stderr);
    }
  }
}

bool FutureCore::wait_state(std::uint32_t at_least, const pyconc::detail::Deadline& deadline) const {
  // A result is often microseconds away: look a few times before paying for a sleep
  // and a wake-up (two system calls, and one for the finisher).
  for (int i = 0; i < 64; ++i) {
    if (state_.load(std::memory_order_acquire) >= at_least) return true;
    pyconc::detail::cpu_relax();
  }
  for (;;) {
    std::uint32_t s = state_.load(std::memory_order_acquire);
    if (s >= at_least) return true;
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    // Re-read after announcing ourselves: the finisher stores the state, then checks
    // sleepers_ (both seq_cst), so one of us sees the other.
    s = state_.load(std::memory_order_seq_cst);
    bool in_time = true;
    if (s < at_least)
      in_time = pyconc::detail::futex_wait(const_cast<std::atomic<std::uint32_t>&>(state_), s, deadline);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    if (!in_time) return state_.load(std::memory_order_acquire) >= at_least;
  }
}

std::exception_ptr FutureCore::exception_or_cancelled() const {
  if (cancelled()) return std::make_exception_ptr(CancelledError("the future was cancelled"));
  return exception_;
}

std::exception_ptr FutureCore::exception(const pyconc::detail::Deadline& deadline) const {
  if (!wait_done(deadline)) throw TimeoutError("the future did not finish in time");
  if (cancelled()) throw CancelledError("the future was cancelled");
  return exception_;
}

void FutureCore::wait_for_value(const pyconc::detail::Deadline& deadline) const {
  if (!wait_done(deadline)) throw TimeoutError("the future did not finish in time");
  if (cancelled()) throw CancelledError("the future was cancelled");
  if (exception_) std::rethrow_exception(exception_);
}

bool FutureCore::add_listener(FutureListener* listener) {
  pyconc::detail::LockGuard guard(lock_);
  hooked_.store(true, std::memory_order_seq_cst);
  std::uint32_t s = state_.load(std::memory_order_seq_cst);
  if (s == kFinished || s == kCancelledAndNotified) return false;
  hooks().listeners.push_back(listener);
  return true;
}

void FutureCore::remove_listener(FutureListener* listener) {
  pyconc::detail::LockGuard guard(lock_);
  if (!hooks_) return;
  auto& ls = hooks_->listeners;
  ls.erase(std::remove(ls.begin(), ls.end(), listener), ls.end());
}

void FutureCore::add_callback(std::function<void()> fn) {
  {
    pyconc::detail::LockGuard guard(lock_);
    hooked_.store(true, std::memory_order_seq_cst);
    std::uint32_t s = state_.load(std::memory_order_seq_cst);
    if (s != kCancelled && s != kCancelledAndNotified && s != kFinished) {
      hooks().callbacks.push_back(std::move(fn));
      return;
    }
  }
  try {
    fn();
  } catch (...) {
    std::string text = "exception calling callback for future: " + describe_exception(std::current_exception()) + "\n";
    std::fputs(text.c_str(), stderr);
  }
}

}  // namespace pyconc::futures::detail
