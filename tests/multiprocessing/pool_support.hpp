// Helpers of the multiprocessing::Pool tests (test_pool*.cpp): task functions the
// workers run, a value type with a cereal serialize, a registered exception, and a
// fixture parametrised by start method.
//
// Every function here is a plain function (transferable under every start method).
// A task that must stay in flight waits on a multiprocessing::Event the test sets, never
// on a timer.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <pyconc/errors.hpp>
#include <pyconc/multiprocessing.hpp>
#include <pyconc/pickle.hpp>

#include "mp_support.hpp"

namespace pool_test {

namespace mp = pyconc::multiprocessing;
using namespace std::chrono_literals;

/// A generous bound for a result that should come (a loaded 2-core box, sanitizers).
inline constexpr pyconc::Seconds kPatience{60.0};

/// A user exception type that crosses processes as itself.
struct QuotaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A user value type with a cereal serialize.
struct Point {
  int x = 0;
  double y = 0;
  std::string label;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(x, y, label);
  }
  friend bool operator==(const Point&, const Point&) = default;
};

/// A type whose pickling always fails (its save() throws).
struct Unpicklable {
  int value = 0;
  template <class Archive>
  void save(Archive&) const {
    throw pyconc::ValueError("Unpicklable cannot be pickled");
  }
  template <class Archive>
  void load(Archive&) {}
};

inline int square(int x) { return x * x; }
inline long add3(int a, long b, int c) { return a + b + c; }
inline int add2(int a, int b) { return a + b; }
inline std::string concat(std::string a, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += a;
  return out;
}
inline int fail_value(int x) { throw pyconc::ValueError("bad value " + std::to_string(x)); }
inline int fail_runtime(int x) { throw std::runtime_error("runtime " + std::to_string(x)); }
inline int fail_quota(int x) { throw QuotaError("quota " + std::to_string(x)); }
/// x, except that the item `bad` raises ValueError.
inline int square_unless(int x, int bad) {
  if (x == bad) throw pyconc::ValueError("item " + std::to_string(x));
  return x * x;
}
inline int square_unless_13(int x) { return square_unless(x, 13); }
/// Does nothing (a void task).
inline void nothing(int) {}
/// Records x in a shared Value (a void task with a visible effect).
inline void add_to(mp::Value<int> total, int x) {
  std::scoped_lock held(total.get_lock());
  total.set_value(total.value() + x);
}
/// Waits (boundedly) for `gate`, then returns x: a task that stays in flight until the
/// test lets it go.
inline int wait_then(mp::Event gate, int x) {
  if (!gate.wait(kPatience)) throw pyconc::RuntimeError("the gate was never opened");
  return x;
}
/// wait_then for imap (one argument).
inline int wait_then_pair(std::pair<mp::Event, int> item) { return wait_then(std::move(item.first), item.second); }
/// Tells the test it started (`started`), then waits for `gate`.
inline int signal_and_wait(mp::Event started, mp::Event gate, int x) {
  started.set();
  return wait_then(std::move(gate), x);
}
/// The worker's pid.
inline int worker_pid() { return static_cast<int>(::getpid()); }
/// The worker's pid, for map (the argument is ignored).
inline int worker_pid_of(int) { return worker_pid(); }
/// The worker's name (current_process().name()).
inline std::string worker_name() { return mp::current_process().name(); }

/// A test parametrised by start method ("fork", "spawn", "forkserver").
class MethodTest : public ::testing::TestWithParam<std::string> {
 protected:
  mp::Context ctx() const { return mp::get_context(GetParam()); }
  mp::Pool make_pool(int processes = 2) const { return ctx().Pool(processes); }
};

/// 0, 1, ..., n - 1.
inline std::vector<int> iota(int n) {
  std::vector<int> v;
  v.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v.push_back(i);
  return v;
}

}  // namespace pool_test

PYCONC_REGISTER_EXCEPTION(pool_test::QuotaError);

/// Instantiates a MethodTest suite under every start method.
#define POOL_TEST_METHODS(Suite)                                                                 \
  INSTANTIATE_TEST_SUITE_P(Methods, Suite, ::testing::ValuesIn(pyconc_test::start_methods()), \
                           pyconc_test::method_name)
