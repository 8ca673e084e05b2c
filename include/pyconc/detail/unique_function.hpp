// A move-only `void()` callable (std::move_only_function arrives only in C++23).
#pragma once

#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

namespace pyconc::detail {

class UniqueFunction {
 public:
  UniqueFunction() noexcept = default;
  template <class F>
    requires(!std::is_same_v<std::decay_t<F>, UniqueFunction> && std::is_invocable_v<std::decay_t<F>&>)
  UniqueFunction(F&& f) : impl_(std::make_unique<Impl<std::decay_t<F>>>(std::forward<F>(f))) {}

  explicit operator bool() const noexcept { return impl_ != nullptr; }
  void operator()() { impl_->call(); }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual void call() = 0;
  };
  template <class F>
  struct Impl final : Base {
    explicit Impl(F&& f) : fn(std::move(f)) {}
    explicit Impl(const F& f) : fn(f) {}
    void call() override { std::invoke(fn); }
    F fn;
  };
  std::unique_ptr<Base> impl_;
};

/// Binds `f` to decay-copies of `args` (as std::thread does); the call moves them out,
/// so the result is meant to be called once.
template <class F, class... Args>
auto bind_once(F&& f, Args&&... args) {
  return [f = std::forward<F>(f), tuple = std::make_tuple(std::forward<Args>(args)...)]() mutable {
    return std::apply(std::move(f), std::move(tuple));
  };
}

}  // namespace pyconc::detail
