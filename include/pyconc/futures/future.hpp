// concurrent.futures.Future: the eventual result of an asynchronous call.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "pyconc/errors.hpp"
#include "pyconc/futures/detail/bulk_memory.hpp"
#include "pyconc/futures/detail/future_state.hpp"
#include "pyconc/threading/timeout.hpp"

namespace pyconc::futures {

/// The eventual result of an asynchronous call (Python's concurrent.futures.Future): a
/// cheap, copyable handle to state shared with whoever runs the call.
///
///     futures::Future<int> f = executor.submit(square, 7);
///     int x = f.result();                  // waits; rethrows the task's exception
///     f.add_done_callback([](futures::Future<int> done) { ... });
///     if (!f.done()) f.cancel();
///
/// States, as CPython's: pending → running → finished, or pending → cancelled. cancel()
/// succeeds only while pending. result()/exception() wait (at most `timeout`, else
/// TimeoutError) and raise CancelledError for a cancelled future; result() rethrows the
/// task's exception with its original type. A callback runs once, when the future is
/// done (at once, in the caller, if it already is); an exception escaping a callback is
/// reported on stderr and ignored, as Python logs it.
///
/// Executor side (for those who write executors): set_running_or_notify_cancel(),
/// set_result(), set_exception(); setting a done future raises InvalidStateError.
///
/// Thread safety: every member may be called from any thread, on any copy.
///
/// Memory ordering: everything the task did before finishing is visible to a thread
/// that saw done() (or got the result or exception).
///
/// Differences from Python: result() returns a reference to the stored value (valid
/// while any handle to the future exists), like std::shared_future::get(); exception()
/// returns a std::exception_ptr (null: no exception). Future<void> stands for a call
/// returning None. A default-constructed Future is a new pending future, as Python's
/// Future() is.
template <class T>
class Future {
 public:
  using value_type = T;

  /// A new, pending future (for executor implementers and tests).
  Future() : state_(detail::make_pooled<detail::PlainState<T>>()) {}
  Future(const Future& other) noexcept : state_(other.state_) {
    if (state_) state_->retain();
  }
  Future(Future&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  Future& operator=(const Future& other) noexcept {
    if (other.state_) other.state_->retain();
    if (state_) state_->release();
    state_ = other.state_;
    return *this;
  }
  Future& operator=(Future&& other) noexcept {
    if (this != &other) {
      if (state_) state_->release();
      state_ = std::exchange(other.state_, nullptr);
    }
    return *this;
  }
  ~Future() {
    if (state_) state_->release();
  }

  /// Cancels if pending; true if the future is (now) cancelled.
  bool cancel() { return state_->cancel(); }
  bool cancelled() const noexcept { return state_->cancelled(); }
  bool running() const noexcept { return state_->running(); }
  bool done() const noexcept { return state_->done(); }

  /// The call's result, waiting as long as needed.
  decltype(auto) result() const { return result_until(pyconc::detail::Deadline::never()); }
  /// The call's result, waiting at most `timeout` (then TimeoutError).
  decltype(auto) result(Seconds timeout) const {
    // As Python's, the timeout is only looked at when the call has to wait.
    using pyconc::detail::Deadline, pyconc::detail::TimeoutRule;
    return result_until(state_->done() ? Deadline::never()
                                       : pyconc::detail::deadline_for(TimeoutRule::threading_wait, timeout));
  }
  /// The call's exception (null if it returned), waiting as long as needed.
  std::exception_ptr exception() const { return state_->exception(pyconc::detail::Deadline::never()); }
  std::exception_ptr exception(Seconds timeout) const {
    using pyconc::detail::Deadline, pyconc::detail::TimeoutRule;
    return state_->exception(state_->done() ? Deadline::never()
                                            : pyconc::detail::deadline_for(TimeoutRule::threading_wait, timeout));
  }

  /// Calls `fn(future)` when the future is done (at once if it is).
  template <class F>
    requires std::invocable<F&, Future<T>>
  void add_done_callback(F fn) {
    // No reference held by the callback (the state owns it): it runs while whoever
    // finishes or cancels the future holds one, and makes a handle of its own.
    detail::FutureState<T>* self = state_;
    state_->add_callback([fn = std::move(fn), self]() mutable {
      self->retain();
      fn(Future<T>(self));
    });
  }

  // ---- executor side ----
  /// pending → running (true); cancelled → cancelled-and-notified (false);
  /// RuntimeError otherwise.
  bool set_running_or_notify_cancel() { return state_->set_running_or_notify_cancel(); }
  template <class U = T>
    requires(!std::is_void_v<T> && std::is_constructible_v<T, U &&>)
  void set_result(U&& value) {
    state_->set_result(std::forward<U>(value));
  }
  void set_result()
    requires std::is_void_v<T>
  {
    state_->set_result();
  }
  void set_exception(std::exception_ptr error) { state_->set_exception(std::move(error)); }

  /// The same future (Python's `is`).
  friend bool operator==(const Future& a, const Future& b) noexcept { return a.state_ == b.state_; }
  /// For std::hash: futures as dictionary keys, as Python's {executor.submit(...): url}.
  std::size_t hash() const noexcept { return std::hash<const void*>()(state_); }

 private:
  friend struct detail::FutureAccess;
  template <class>
  friend class Future;
  explicit Future(detail::FutureState<T>* adopted) noexcept : state_(adopted) {}
  detail::FutureState<T>& state() const { return *state_; }

  decltype(auto) result_until(const pyconc::detail::Deadline& deadline) const {
    state_->wait_for_value(deadline);
    if constexpr (std::is_void_v<T>) return;
    else return static_cast<const T&>(state_->value());
  }

  detail::FutureState<T>* state_;  // one counted reference (null only when moved from)
};

/// A list of futures: a std::vector whose allocator maps a buffer of 512 KiB or more on
/// transparent huge pages (pyconc/futures/detail/bulk_memory.hpp), so that filling a list of
/// 100,000 futures costs one page fault rather than 200. wait() returns its lists as
/// FutureList, and map() keeps its futures in one.
///
///     futures::FutureList<int> not_done = fs;      // from a std::vector<Future<int>>
///     while (!not_done.empty()) {
///       auto [done, rest] = futures::wait(not_done, futures::FIRST_COMPLETED);
///       not_done = std::move(rest);
///     }
///
/// It converts to and from std::vector<Future<T>> (copying the handles, not the futures),
/// so it passes where a std::vector<Future<T>> is taken; wait() and as_completed() take
/// either without a copy.
template <class T>
class FutureList : public std::vector<Future<T>, pyconc::detail::BulkAllocator<Future<T>>> {
  using Base = std::vector<Future<T>, pyconc::detail::BulkAllocator<Future<T>>>;

 public:
  using Base::Base;
  FutureList() = default;
  template <class A>
  FutureList(const std::vector<Future<T>, A>& other) : Base(other.begin(), other.end()) {}
  operator std::vector<Future<T>>() const { return std::vector<Future<T>>(this->begin(), this->end()); }
};

}  // namespace pyconc::futures

template <class T>
struct std::hash<pyconc::futures::Future<T>> {
  std::size_t operator()(const pyconc::futures::Future<T>& f) const noexcept { return f.hash(); }
};
