// The `initializer` and `initargs` options of the process pools (Pool,
// ProcessPoolExecutor): a transferable callable that every worker runs once when it
// starts, with the arguments of a std::tuple.
#pragma once

#include <cstddef>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/detail/pool_task.hpp"

namespace pyconc::multiprocessing {

namespace detail {

struct InitializerAccess;

/// The parameter types of a callable with one signature: a function pointer, or a class
/// with one non-template operator() (a non-generic lambda).
template <class F>
struct parameters_of : parameters_of<decltype(&F::operator())> {};
template <class R, class... A>
struct parameters_of<R (*)(A...)> {
  using type = std::tuple<std::decay_t<A>...>;
  template <class F>
  static constexpr Runner runner = &run_call<F, std::decay_t<A>...>;
};
template <class R, class... A>
struct parameters_of<R (*)(A...) noexcept> : parameters_of<R (*)(A...)> {};
template <class C, class R, class... A>
struct parameters_of<R (C::*)(A...) const> : parameters_of<R (*)(A...)> {};
template <class C, class R, class... A>
struct parameters_of<R (C::*)(A...) const noexcept> : parameters_of<R (*)(A...)> {};
template <class C, class R, class... A>
struct parameters_of<R (C::*)(A...)> : parameters_of<R (*)(A...)> {};

}  // namespace detail

/// A pool's `initializer` option: a transferable callable (docs/conventions.md,
/// "Callables across processes") with one signature. Empty by default.
///
///     void init(int level) { ... }
///     multiprocessing::Pool pool({.initializer = init, .initargs = std::tuple{3}});
class Initializer {
 public:
  Initializer() = default;
  template <class F>
    requires(!std::same_as<std::remove_cvref_t<F>, Initializer>)
  Initializer(F&& fn) {  // NOLINT: implicit, as the option's value
    using Fn = detail::stored_callable_t<F>;
    static_assert(detail::transferable_v<Fn>,
                  "pyconc: a pool's initializer must be transferable: a function, a captureless lambda "
                  "or a serialisable function object (docs/conventions.md, \"Callables across processes\")");
    using Params = detail::parameters_of<Fn>;
    Fn stored(std::forward<F>(fn));
    detail::save_callable(fn_bytes_, stored);
    runner_ = detail::pickle_runner(Params::template runner<Fn>);
    params_ = &typeid(typename Params::type);
  }

  /// Whether an initializer was given.
  explicit operator bool() const noexcept { return params_ != nullptr; }

 private:
  friend struct detail::InitializerAccess;
  std::vector<std::byte> fn_bytes_;
  std::vector<std::byte> runner_;
  const std::type_info* params_ = nullptr;
};

/// A pool's `initargs` option: the initializer's arguments as a std::tuple of picklable
/// values whose types are the initializer's parameter types (decayed).
class InitArgs {
 public:
  InitArgs() : bytes_(pyconc::pickle::dumps(std::tuple<>{})), type_(&typeid(std::tuple<>)) {}
  template <class... A>
  InitArgs(const std::tuple<A...>& args)  // NOLINT: implicit, as the option's value
      : bytes_(pyconc::pickle::dumps(args)), type_(&typeid(std::tuple<A...>)) {
    static_assert((detail::picklable_v<A> && ...), "pyconc: every initarg must be picklable");
  }

 private:
  friend struct detail::InitializerAccess;
  std::vector<std::byte> bytes_;
  const std::type_info* type_;
};

namespace detail {

struct InitializerAccess {
  /// The task message a worker runs first; empty without an initializer. ValueError when
  /// the initargs do not fit the initializer's parameters.
  static std::vector<std::byte> message(const Initializer& init, const InitArgs& args) {
    std::vector<std::byte> out;
    if (!init) {
      if (*args.type_ != typeid(std::tuple<>)) throw ValueError("initargs were given without an initializer");
      return out;
    }
    if (*init.params_ != *args.type_)
      throw ValueError("initargs do not match the initializer's parameters: give a std::tuple of exactly its "
                       "parameter types");
    build_message(out, init.runner_, init.fn_bytes_, args.bytes_);
    return out;
  }
};

}  // namespace detail

}  // namespace pyconc::multiprocessing
