// What a Process runs, type-erased: called directly in a fork child, or pickled (with
// the address of the entry that unpickles it) for a spawn or forkserver child.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "pyconc/pickle.hpp"

namespace pyconc::multiprocessing::detail {

/// Whether a T can be pickled (and unpickled) by pyconc::pickle.
template <class T>
inline constexpr bool picklable_v = pyconc::pickle::Picklable<T>;

/// A function pointer.
template <class F>
inline constexpr bool function_pointer_v =
    std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>;

/// A function object without state (a captureless lambda): the child default-constructs it.
template <class F>
inline constexpr bool stateless_v =
    std::is_class_v<F> && std::is_empty_v<F> && std::is_default_constructible_v<F>;

/// What may cross a process boundary as a callable (docs/conventions.md, "Callables across
/// processes").
template <class F>
inline constexpr bool transferable_v =
    function_pointer_v<F> || stateless_v<F> || (std::is_class_v<F> && picklable_v<F>);

/// Where a function lives: the file of the module (executable or shared object) and the
/// offset from its load address, which ASLR moves but the same file keeps.
struct CodeAddress {
  std::string module;
  std::uintptr_t offset = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(module, offset);
  }
};

/// The CodeAddress of `fn` in this process (ProcessError when it is in no module).
CodeAddress code_address(const void* fn);
/// The address in this process of a CodeAddress from the parent (ProcessError when the
/// module is not loaded here).
void* resolve_code_address(const CodeAddress& where);

/// The entry a spawn child runs: unpickles the callable (and arguments) from `payload`,
/// calls `loaded()` (the parent may now drop what the arguments refer to), then calls it.
using ChildEntry = void (*)(std::span<const std::byte> payload, void (*loaded)());

/// What a Process runs.
class ProcessTarget {
 public:
  virtual ~ProcessTarget() = default;
  /// Calls the target with its arguments (in the child).
  virtual void call() = 0;
  /// The entry that rebuilds and calls this target from pickle() in another process.
  virtual ChildEntry entry() const noexcept = 0;
  /// The callable and its arguments, pickled for entry().
  virtual std::vector<std::byte> pickle() const = 0;
};

template <class F>
struct CallableCodec {
  // Function pointer: its code address. Stateless: nothing. Otherwise: pickled.
  static void save(std::vector<std::byte>& out, const F& f) {
    if constexpr (function_pointer_v<F>) {
      out = pyconc::pickle::dumps(code_address(reinterpret_cast<const void*>(f)));
    } else if constexpr (stateless_v<F>) {
      out.clear();
    } else {
      out = pyconc::pickle::dumps(f);
    }
  }
  static F load(std::span<const std::byte> in) {
    if constexpr (function_pointer_v<F>) {
      return reinterpret_cast<F>(resolve_code_address(pyconc::pickle::loads<CodeAddress>(in)));
    } else if constexpr (stateless_v<F>) {
      return F{};
    } else {
      return pyconc::pickle::loads<F>(in);
    }
  }
};

// The launch payload of a target: (callable bytes, argument bytes).
using TargetPayload = std::pair<std::vector<std::byte>, std::vector<std::byte>>;

template <class F, class... Args>
void child_main(std::span<const std::byte> payload, void (*loaded)()) {
  auto [fn_bytes, arg_bytes] = pyconc::pickle::loads<TargetPayload>(payload);
  F fn = CallableCodec<F>::load(fn_bytes);
  if constexpr (sizeof...(Args) == 0) {
    (void)arg_bytes;
    loaded();
    std::invoke(fn);
  } else {
    auto args = pyconc::pickle::loads<std::tuple<Args...>>(arg_bytes);
    loaded();
    std::apply([&fn](Args&... a) { std::invoke(fn, std::move(a)...); }, args);
  }
}

template <class F, class... Args>
class TargetOf final : public ProcessTarget {
 public:
  template <class G, class... A>
  explicit TargetOf(G&& fn, A&&... args) : fn_(std::forward<G>(fn)), args_(std::forward<A>(args)...) {}

  void call() override {
    std::apply([this](Args&... a) { std::invoke(fn_, std::move(a)...); }, args_);
  }
  ChildEntry entry() const noexcept override { return &child_main<F, Args...>; }
  std::vector<std::byte> pickle() const override {
    TargetPayload payload;
    CallableCodec<F>::save(payload.first, fn_);
    if constexpr (sizeof...(Args) > 0) payload.second = pyconc::pickle::dumps(args_);
    return pyconc::pickle::dumps(payload);
  }

 private:
  F fn_;
  std::tuple<Args...> args_;
};

}  // namespace pyconc::multiprocessing::detail
