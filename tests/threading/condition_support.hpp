// Helpers shared by the threading::Condition tests: the four ways to build a Condition
// (over its default RLock, a Lock, an RLock, a duck-typed lock), their names for typed
// tests, and two small helpers on a condition's lock.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <type_traits>

#include <pyconc/threading.hpp>

#include "threading/lock_support.hpp"

// DuckLock takes and releases its inner lock in separate calls, and the helpers hold a
// condition's lock across lambdas: clang's static lock analysis cannot follow that, so it
// is switched off for them.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wthread-safety-analysis"
#endif

namespace pyconc_test {

namespace threading = pyconc::threading;

/// A lock type pyconc does not know: Python's duck typing (acquire/release) is enough.
struct DuckLock {
  bool acquire(bool blocking) {
    calls.fetch_add(1, std::memory_order_relaxed);
    return inner.acquire(blocking);
  }
  bool acquire(bool blocking, pyconc::Seconds timeout) {
    calls.fetch_add(1, std::memory_order_relaxed);
    return inner.acquire(blocking, timeout);
  }
  void release() { inner.release(); }

  threading::Lock inner;
  std::atomic<long> calls{0};
};

// The four ways to build a Condition.
struct DefaultKind {
  threading::Condition cv;
};
struct LockKind {
  threading::Lock lock;
  threading::Condition cv{lock};
};
struct RLockKind {
  threading::RLock lock;
  threading::Condition cv{lock};
};
struct DuckKind {
  DuckLock lock;
  threading::Condition cv{lock};
};

/// Runs `f` holding the condition's lock; returns what it returns.
template <class F>
auto under(threading::Condition& cv, F f) {
  std::scoped_lock guard(cv);
  return f();
}

// The typed fixture of the Condition tests, the kinds it runs over (each file says
// TYPED_TEST_SUITE(ConditionTest, ConditionKinds, KindNames)), and their names in test
// output.
template <class Kind>
class ConditionTest : public ::testing::Test {};

using ConditionKinds = ::testing::Types<DefaultKind, LockKind, RLockKind, DuckKind>;

class KindNames {
 public:
  template <class T>
  static std::string GetName(int) {
    if (std::is_same_v<T, DefaultKind>) return "Default";
    if (std::is_same_v<T, LockKind>) return "OverLock";
    if (std::is_same_v<T, RLockKind>) return "OverRLock";
    return "OverDuckLock";
  }
};

}  // namespace pyconc_test

#if defined(__clang__)
#pragma clang diagnostic pop
#endif
