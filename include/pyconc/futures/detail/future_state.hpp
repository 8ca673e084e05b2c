// The machinery behind futures::Future: the shared state every handle points at (its
// state machine, result, callbacks and listeners), and how executors reach it.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/detail/timeout.hpp"
#include "pyconc/futures/detail/task_memory.hpp"
#include "pyconc/threading/lock.hpp"

namespace pyconc::futures {

template <class T>
class Future;

namespace detail {

class FutureCore;

/// Someone waiting on several futures (wait(), as_completed()): told, under the
/// future's lock, when one of them finishes or is cancelled-and-notified. Must not block.
class FutureListener {
 public:
  virtual void on_done(FutureCore& future) noexcept = 0;

 protected:
  ~FutureListener() = default;
};

/// The state shared by every Future handle, independent of the result type.
///
/// State machine (CPython's):  pending ─► running ─► finished
///                               └──► cancelled ─► cancelled_and_notified
///
/// Transitions are compare-and-swaps on one word (also the futex of result() waiters),
/// so an executor runs and finishes a task without taking the lock: the lock only
/// guards the listeners and callbacks, and `hooked_` tells a finisher whether there are
/// any. Finishing goes through a private "finishing" state that only one setter can
/// enter: it writes the value, then publishes kFinished.
///
/// Lifetime: counted references, held by the Future handles and by an executor's queue
/// (a WorkRef); the last release() destroys the state through destroy(), which the
/// final class implements (the state lives in the small-object pool). Every member is
/// called through a reference someone holds, so the state outlives its callbacks.
class FutureCore {
 public:
  enum State : std::uint32_t {
    kPending,
    kRunning,
    kFinishingFromPending,  // a setter is storing the result (reads as pending)
    kFinishingFromRunning,  // ... (reads as running)
    kCancelled,
    kCancelledAndNotified,
    kFinished
  };

  /// A new pending state with `refs` references (one per handle or queue that adopts it).
  explicit FutureCore(std::uint32_t refs = 1) noexcept : refs_(refs), serial_(next_serial()) {}
  FutureCore(const FutureCore&) = delete;
  FutureCore& operator=(const FutureCore&) = delete;

  void retain() const noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  /// Drops a reference; the last one destroys the state.
  void release() const noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) const_cast<FutureCore*>(this)->destroy();
  }

  State state() const noexcept { return static_cast<State>(state_.load(std::memory_order_acquire)); }
  bool cancelled() const noexcept { return state() == kCancelled || state() == kCancelledAndNotified; }
  bool running() const noexcept {
    State s = state();
    return s == kRunning || s == kFinishingFromRunning;
  }
  bool done() const noexcept { return state() >= kCancelled; }
  /// Finished, or cancelled and notified: what wait()/as_completed() count as done.
  bool settled() const noexcept { return state() >= kCancelledAndNotified; }

  bool cancel();
  bool set_running_or_notify_cancel();
  void set_exception(std::exception_ptr error);

  /// Waits until done(); false on timeout.
  bool wait_done(const pyconc::detail::Deadline& deadline) const { return wait_state(kCancelled, deadline); }
  /// Waits until settled(); false on timeout.
  bool wait_settled(const pyconc::detail::Deadline& deadline) const {
    return wait_state(kCancelledAndNotified, deadline);
  }
  /// After done(): CancelledError if cancelled, else the exception (null if none).
  std::exception_ptr exception_or_cancelled() const;
  /// The exception (Python's Future.exception(timeout)): TimeoutError, CancelledError.
  std::exception_ptr exception(const pyconc::detail::Deadline& deadline) const;
  /// Waits for done(), then rethrows a cancellation or the task's exception.
  void wait_for_value(const pyconc::detail::Deadline& deadline) const;

  /// Registers a listener unless already settled; returns whether it was registered.
  bool add_listener(FutureListener* listener);
  void remove_listener(FutureListener* listener);
  /// Runs `fn` when done (at once, in this thread, if done already).
  void add_callback(std::function<void()> fn);

  /// A number that grows with each future a thread creates (the creating thread's index
  /// in the top bits): a list of futures in strictly increasing serial order holds no
  /// future twice, which wait() and as_completed() check without sorting.
  std::uint64_t serial() const noexcept { return serial_; }

 protected:
  virtual ~FutureCore() = default;
  /// Destroys and frees this state (release() dropped the last reference).
  virtual void destroy() noexcept = 0;
  /// Asked by cancel() (under the state's lock) before a pending future is cancelled:
  /// an executor that has sent the call somewhere it can still be withdrawn from says
  /// here whether it withdrew it (a process pool's task sent ahead to a worker).
  virtual bool withdraw() noexcept { return true; }

  /// Stores the result via `store()` and finishes; InvalidStateError if already done.
  template <class Store>
  void finish(Store&& store) {
    begin_finish();
    try {
      store();
    } catch (...) {
      abort_finish();
      throw;
    }
    end_finish();
  }

 private:
  bool wait_state(std::uint32_t at_least, const pyconc::detail::Deadline& deadline) const;
  void begin_finish();
  void abort_finish() noexcept;
  void end_finish();
  void notify_listeners() PYCONC_REQUIRES(lock_);
  void wake_and_call(std::vector<std::function<void()>>& callbacks);

  static std::uint64_t next_serial() noexcept;

  mutable std::atomic<std::uint32_t> refs_;
  std::atomic<std::uint32_t> state_{kPending};  // futex word for result() waiters
  mutable std::atomic<std::uint32_t> sleepers_{0};
  // Set (under lock_, seq_cst) before a listener or callback is added; a finisher that
  // published its state (seq_cst) and then reads false knows there are none to call.
  std::atomic<bool> hooked_{false};
  threading::Lock lock_;
  const std::uint64_t serial_;
  // Written once, by the one setter in a finishing state, before the state becomes
  // kFinished (release); read after an acquire load saw kFinished, with no lock.
  std::exception_ptr exception_;
  // Listeners and callbacks, allocated on first use: most futures never have any, and
  // a small future state keeps a burst of submissions cheap.
  struct Hooks {
    std::vector<FutureListener*> listeners;
    std::vector<std::function<void()>> callbacks;
  };
  std::unique_ptr<Hooks> hooks_ PYCONC_GUARDED_BY(lock_);
  Hooks& hooks() PYCONC_REQUIRES(lock_) {
    if (!hooks_) hooks_ = std::make_unique<Hooks>();
    return *hooks_;
  }
};

template <class T>
class FutureState : public FutureCore {
 public:
  explicit FutureState(std::uint32_t refs = 1) noexcept : FutureCore(refs) {}
  template <class U>
  void set_result(U&& value) {
    finish([&] { value_.emplace(std::forward<U>(value)); });
  }
  const T& value() const { return *value_; }
  /// Moves the value out (only for a sole owner, e.g. Executor::map's results).
  T take_value() { return std::move(*value_); }

 private:
  std::optional<T> value_;  // as exception_: written before kFinished is published
};

template <>
class FutureState<void> : public FutureCore {
 public:
  explicit FutureState(std::uint32_t refs = 1) noexcept : FutureCore(refs) {}
  void set_result() {
    finish([] {});
  }
};

/// A `Self` (a final class derived from FutureCore) from the small-object pool.
template <class Self, class... Args>
Self* make_pooled(Args&&... args) {
  pyconc::detail::SmallAllocator<Self> alloc;
  Self* p = alloc.allocate(1);
  try {
    return ::new (static_cast<void*>(p)) Self(std::forward<Args>(args)...);
  } catch (...) {
    alloc.deallocate(p, 1);
    throw;
  }
}

/// Undoes make_pooled (a final class's destroy()).
template <class Self>
void destroy_pooled(Self* self) noexcept {
  self->~Self();
  pyconc::detail::SmallAllocator<Self>{}.deallocate(self, 1);
}

/// The state of a future made on its own (Future<T>(), for executor writers and tests).
template <class T>
class PlainState final : public FutureState<T> {
 private:
  void destroy() noexcept override { destroy_pooled(this); }
};

/// Access to a Future's shared state for executors and wait()/as_completed().
struct FutureAccess {
  template <class T>
  static FutureCore& core(const Future<T>& f) {
    return f.state();
  }
  /// A handle that takes over one of `state`'s references.
  template <class T>
  static Future<T> adopt(FutureState<T>* state) noexcept {
    return Future<T>(state);
  }
  template <class T>
  static FutureState<T>& state(const Future<T>& f) {
    return *f.state_;
  }
};

}  // namespace detail

}  // namespace pyconc::futures
