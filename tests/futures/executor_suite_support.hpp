// The support of the Executor test suite (executor_suite.hpp): the Gate for in-process
// executors, the requirements on a factory, the calls the suite submits, and the typed
// test fixture.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <concepts>
#include <list>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <pyconc/errors.hpp>
#include <pyconc/futures.hpp>
#include <pyconc/threading/event.hpp>

#include "support.hpp"

namespace pyconc_test {

/// A Gate for executors whose workers share the test's address space: a handle to a
/// threading::Event (copies share it).
class InProcessGate {
 public:
  void set() const { event_->set(); }
  bool is_set() const { return event_->is_set(); }
  void wait() const { event_->wait(); }
  bool wait(pyconc::Seconds timeout) const { return event_->wait(timeout); }

 private:
  std::shared_ptr<pyconc::threading::Event> event_ = std::make_shared<pyconc::threading::Event>();
};

/// What the suite needs from its type parameter.
template <class F>
concept ExecutorFactory =
    std::default_initializable<typename F::Gate> && std::copy_constructible<typename F::Gate> &&
    requires(const typename F::Gate& gate, pyconc::Seconds timeout) {
      gate.set();
      { gate.is_set() } -> std::convertible_to<bool>;
      gate.wait();
      { gate.wait(timeout) } -> std::convertible_to<bool>;
      requires std::derived_from<typename decltype(F::make(1))::element_type,
                                 pyconc::futures::Executor>;
    };

namespace suite {

using namespace std::chrono_literals;

/// A bound for waits that succeed unless something is broken (then the test fails
/// instead of hanging).
inline constexpr pyconc::Seconds kLong = 30s;

template <class Factory>
constexpr int prefetch() {
  if constexpr (requires { Factory::kPrefetch; }) return Factory::kPrefetch;
  else return 0;
}

/// Sets its gates when destroyed: declared after the executor, it releases blocked calls
/// before the executor's destructor waits for them, even when an assertion failed.
template <class Gate>
class OpenOnExit {
 public:
  explicit OpenOnExit(std::vector<Gate> gates) : gates_(std::move(gates)) {}
  OpenOnExit(const OpenOnExit&) = delete;
  OpenOnExit& operator=(const OpenOnExit&) = delete;
  ~OpenOnExit() {
    for (const Gate& g : gates_) g.set();
  }

 private:
  std::vector<Gate> gates_;
};

/// A user-defined exception type with a payload. Serialisable, so that an executor
/// whose workers are other processes can send it back as itself once it is registered
/// (PYCONC_REGISTER_EXCEPTION).
class CustomError : public std::runtime_error {
 public:
  CustomError() : CustomError(0) {}
  explicit CustomError(int code) : std::runtime_error("custom error " + std::to_string(code)), code_(code) {}
  int code() const noexcept { return code_; }
  template <class Archive>
  void save(Archive& ar) const {
    ar(code_);
  }
  template <class Archive>
  void load(Archive& ar) {
    int code = 0;
    ar(code);
    *this = CustomError(code);
  }

 private:
  int code_;
};

// ---- the calls the suite submits: plain functions with copyable arguments ----

inline int square(int x) { return x * x; }
inline int add(int a, int b) { return a + b; }
inline int add3(int a, int b, int c) { return a + b + c; }
inline std::string repeat(std::string text, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += text;
  return out;
}
inline void do_nothing() {}
inline int raise_value_error(int x) { throw pyconc::ValueError("bad value " + std::to_string(x)); }
inline int raise_runtime_error() { throw std::runtime_error("plain std failure"); }
inline int raise_custom(int code) { throw CustomError(code); }
/// x*x, or ValueError for a negative x.
inline int square_or_raise(int x) {
  if (x < 0) throw pyconc::ValueError("negative: " + std::to_string(x));
  return x * x;
}
/// A slow call (the duration does not matter to any assertion).
inline int sleep_then(int ms, int value) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return value;
}
/// Says it started, then blocks until released.
template <class Gate>
int block(Gate started, Gate release, int value) {
  started.set();
  release.wait();
  return value;
}
/// Blocks until released.
template <class Gate>
int wait_then(Gate release, int value) {
  release.wait();
  return value;
}
/// Says it started, blocks until released, then records that it ran.
template <class Gate>
int start_wait_then_mark(Gate started, Gate release, Gate ran) {
  started.set();
  release.wait();
  ran.set();
  return 1;
}
/// Records that it ran.
template <class Gate>
void mark(Gate ran) {
  ran.set();
}

}  // namespace suite
}  // namespace pyconc_test

template <class Factory>
class ExecutorSuite : public ::testing::Test {
  static_assert(pyconc_test::ExecutorFactory<Factory>, "see the requirements at the top of executor_suite.hpp");
};

TYPED_TEST_SUITE_P(ExecutorSuite);
