// Start methods and contexts (Python's multiprocessing.get_context and friends).
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pyconc/multiprocessing/barrier.hpp"
#include "pyconc/multiprocessing/condition.hpp"
#include "pyconc/multiprocessing/connection.hpp"
#include "pyconc/multiprocessing/event.hpp"
#include "pyconc/multiprocessing/lock.hpp"
#include "pyconc/multiprocessing/process.hpp"
#include "pyconc/multiprocessing/queues.hpp"
#include "pyconc/multiprocessing/rlock.hpp"
#include "pyconc/multiprocessing/semaphore.hpp"
#include "pyconc/multiprocessing/sharedctypes.hpp"

namespace pyconc::multiprocessing {

namespace managers {
class SyncManager;
}
class Pool;
struct PoolOptions;

/// A start method and the objects that use it (Python's multiprocessing context).
///
///     auto ctx = multiprocessing::get_context("spawn");
///     auto p = ctx.Process(f, 1);        // ctx.Process(target=f, args=(1,))
///     p.start();
///
/// Thread safety: a Context is an immutable value; use it from any thread.
///
/// Memory ordering: none of its own.
///
/// Differences from Python: a value (copy it freely) rather than a singleton object per
/// method. Python's DefaultContext is get_context() (the method set by
/// set_start_method(), else "fork").
class Context {
 public:
  /// The start method ("fork", "spawn" or "forkserver"); Python: ctx.get_start_method().
  const std::string& start_method() const noexcept { return method_; }
  const std::string& get_start_method() const noexcept { return method_; }

  /// A Process started with this context's method: ctx.Process(target=f, args=(...)).
  template <class F, class... Args>
    requires(!std::same_as<std::decay_t<F>, ProcessOptions>)
  multiprocessing::Process Process(F&& target, Args&&... args) const {
    multiprocessing::Process p(std::forward<F>(target), std::forward<Args>(args)...);
    p.set_start_method(method_);
    return p;
  }
  /// ctx.Process(target=f, args=(...), name=..., daemon=...).
  template <class F, class... Args>
  multiprocessing::Process Process(ProcessOptions options, F&& target, Args&&... args) const {
    multiprocessing::Process p(std::move(options), std::forward<F>(target), std::forward<Args>(args)...);
    p.set_start_method(method_);
    return p;
  }
  // The shared objects, as Python's context offers them (ctx.Queue(), ctx.Lock(), ...).
  // pyconc's shared objects work under every start method, so these only forward to
  // the constructors: ctx.Queue<int>(5) is multiprocessing::Queue<int>(5).
  template <class T, class... A>
  multiprocessing::Queue<T> Queue(A&&... a) const { return multiprocessing::Queue<T>(std::forward<A>(a)...); }
  template <class T, class... A>
  multiprocessing::JoinableQueue<T> JoinableQueue(A&&... a) const {
    return multiprocessing::JoinableQueue<T>(std::forward<A>(a)...);
  }
  template <class T, class... A>
  multiprocessing::SimpleQueue<T> SimpleQueue(A&&... a) const {
    return multiprocessing::SimpleQueue<T>(std::forward<A>(a)...);
  }
  std::pair<Connection, Connection> Pipe(bool duplex = true) const { return multiprocessing::Pipe(duplex); }
  template <class... A>
  multiprocessing::Lock Lock(A&&... a) const { return multiprocessing::Lock(std::forward<A>(a)...); }
  template <class... A>
  multiprocessing::RLock RLock(A&&... a) const { return multiprocessing::RLock(std::forward<A>(a)...); }
  template <class... A>
  multiprocessing::Semaphore Semaphore(A&&... a) const { return multiprocessing::Semaphore(std::forward<A>(a)...); }
  template <class... A>
  multiprocessing::BoundedSemaphore BoundedSemaphore(A&&... a) const {
    return multiprocessing::BoundedSemaphore(std::forward<A>(a)...);
  }
  template <class... A>
  multiprocessing::Condition Condition(A&&... a) const { return multiprocessing::Condition(std::forward<A>(a)...); }
  template <class... A>
  multiprocessing::Event Event(A&&... a) const { return multiprocessing::Event(std::forward<A>(a)...); }
  template <class... A>
  multiprocessing::Barrier Barrier(A&&... a) const { return multiprocessing::Barrier(std::forward<A>(a)...); }
  template <class T, class... A>
  multiprocessing::Value<T> Value(A&&... a) const { return multiprocessing::Value<T>(std::forward<A>(a)...); }
  template <class T, class... A>
  multiprocessing::Array<T> Array(A&&... a) const { return multiprocessing::Array<T>(std::forward<A>(a)...); }
  template <class T>
  multiprocessing::Array<T> Array(std::initializer_list<T> values, LockOption lock = true) const {
    return multiprocessing::Array<T>(values, std::move(lock));
  }
  template <class T, class... A>
  multiprocessing::RawValue<T> RawValue(A&&... a) const { return multiprocessing::RawValue<T>(std::forward<A>(a)...); }
  template <class T, class... A>
  multiprocessing::RawArray<T> RawArray(A&&... a) const { return multiprocessing::RawArray<T>(std::forward<A>(a)...); }
  template <class T>
  multiprocessing::RawArray<T> RawArray(std::initializer_list<T> values) const {
    return multiprocessing::RawArray<T>(values);
  }

  /// ctx.Manager(): a started SyncManager whose server process uses this context's
  /// start method (defined in <pyconc/multiprocessing/managers.hpp>).
  managers::SyncManager Manager() const;

  /// ctx.Pool(...): a Pool whose workers use this context's start method (defined in
  /// <pyconc/multiprocessing/pool.hpp>; options.context is replaced by this context).
  multiprocessing::Pool Pool() const;
  multiprocessing::Pool Pool(int processes) const;
  multiprocessing::Pool Pool(PoolOptions options) const;

  /// Makes `p` (e.g. a Process subclass object) start with this context's method.
  void bind(multiprocessing::Process& p) const { p.set_start_method(method_); }

  friend bool operator==(const Context& a, const Context& b) noexcept { return a.method_ == b.method_; }

 private:
  friend Context get_context(std::optional<std::string> method);
  explicit Context(std::string method) : method_(std::move(method)) {}
  std::string method_;
};

/// The context of `method`; nullopt: the default (get_start_method()). ValueError for an
/// unknown method.
Context get_context(std::optional<std::string> method = std::nullopt);
/// Sets the default start method. RuntimeError when it was set already, unless `force`
/// (force with nullopt clears it). ValueError for an unknown method.
void set_start_method(std::optional<std::string> method, bool force = false);
/// The default start method; fixes it to "fork" if it was not set (as Python does).
std::string get_start_method();
/// With allow_none: nullopt when no method was set yet (nothing is fixed).
std::optional<std::string> get_start_method(bool allow_none);
/// {"fork", "spawn", "forkserver"}: the default first.
std::vector<std::string> get_all_start_methods();

}  // namespace pyconc::multiprocessing
