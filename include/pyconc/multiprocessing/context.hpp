// Start methods and contexts (Python's multiprocessing.get_context and friends).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pyconc/multiprocessing/process.hpp"

namespace pyconc::multiprocessing {

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
