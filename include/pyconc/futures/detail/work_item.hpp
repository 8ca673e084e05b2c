// The machinery behind futures::Executor: a submitted call and its future's state in
// one block (Task), and what an executor's queue holds (WorkItem, WorkRef).
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "pyconc/errors.hpp"
#include "pyconc/futures/detail/future_state.hpp"

namespace pyconc::futures {

namespace detail {

/// A unit of work queued in an executor: runs its call and completes its future.
class WorkItem {
 public:
  /// Runs the call unless the future was cancelled (then notifies the cancellation).
  virtual void run() noexcept = 0;
  /// Completes a still-pending future with `error` (a broken pool).
  virtual void fail(std::exception_ptr error) noexcept = 0;
  /// Cancels a pending future and notifies waiters (shutdown(cancel_futures=true)).
  virtual void cancel_and_notify() noexcept = 0;
  /// Drops the executor's reference (the item may be destroyed).
  virtual void drop() noexcept = 0;

 protected:
  ~WorkItem() = default;
};

/// An executor's reference to a work item (what its queue holds): move-only, 8 bytes,
/// drops the reference when destroyed.
class WorkRef {
 public:
  WorkRef() noexcept = default;
  /// Takes over one reference to `item`.
  explicit WorkRef(WorkItem* item) noexcept : item_(item) {}
  WorkRef(WorkRef&& other) noexcept : item_(std::exchange(other.item_, nullptr)) {}
  WorkRef& operator=(WorkRef&& other) noexcept {
    if (this != &other) {
      reset();
      item_ = std::exchange(other.item_, nullptr);
    }
    return *this;
  }
  ~WorkRef() { reset(); }
  void reset() noexcept {
    if (item_) std::exchange(item_, nullptr)->drop();
  }
  WorkItem* operator->() const noexcept { return item_; }
  explicit operator bool() const noexcept { return item_ != nullptr; }

 private:
  WorkItem* item_ = nullptr;
};

/// A submitted call and its future's state, in one block of the small-object pool. It
/// starts with two references: the Future's and the executor queue's.
template <class R, class Call>
class Task final : public FutureState<R>, public WorkItem {
 public:
  explicit Task(Call call) : FutureState<R>(2), call_(std::move(call)) {}
  void drop() noexcept override { this->release(); }
  void run() noexcept override {
    if (!this->set_running_or_notify_cancel()) {
      call_.reset();
      return;
    }
    try {
      if constexpr (std::is_void_v<R>) {
        (*call_)();
        call_.reset();  // as Python drops fn and args once run
        this->set_result();
      } else {
        R value = (*call_)();
        call_.reset();
        this->set_result(std::move(value));
      }
    } catch (...) {
      call_.reset();
      this->set_exception(std::current_exception());
    }
  }
  void fail(std::exception_ptr error) noexcept override {
    call_.reset();
    try {
      if (!this->done()) this->set_exception(std::move(error));
    } catch (const InvalidStateError&) {  // cancelled meanwhile
    }
    // A future cancelled while queued is never run: notify the cancellation here, or
    // wait() and as_completed() would never see it settle.
    try {
      if (this->state() == FutureCore::kCancelled) this->set_running_or_notify_cancel();
    } catch (...) {  // notified meanwhile
    }
  }
  void cancel_and_notify() noexcept override {
    call_.reset();
    if (this->cancel()) {
      try {
        this->set_running_or_notify_cancel();
      } catch (...) {
      }
    }
  }

 private:
  void destroy() noexcept override { destroy_pooled(this); }

  std::optional<Call> call_;
};

template <class F, class... Args>
using call_result_t = std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>>;

}  // namespace detail

}  // namespace pyconc::futures
