// threading::Condition::wait_for: waiting until a predicate holds, with and without a
// timeout, and a predicate that throws; over each kind of lock.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include <pyconc/errors.hpp>
#include <pyconc/threading.hpp>

#include "support.hpp"
#include "threading/condition_support.hpp"

// These tests deliberately wait and notify without the lock, release from helper
// lambdas and hold a Condition's lock across lambdas: clang's static lock analysis cannot
// follow that, so it is switched off for this file.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wthread-safety-analysis"
#endif

namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::acquirable_elsewhere;
using pyconc_test::Clock;
using pyconc_test::ConditionKinds;
using pyconc_test::ConditionTest;
using pyconc_test::eventually;
using pyconc_test::KindNames;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;
using pyconc_test::under;

namespace {

TYPED_TEST_SUITE(ConditionTest, ConditionKinds, KindNames);

TYPED_TEST(ConditionTest, WaitForReturnsThePredicateValue) {
  TypeParam k;
  threading::Condition& cv = k.cv;
  int items = 0;  // guarded by cv
  std::thread producer([&] {
    for (int i = 0; i < 7; ++i) {
      std::scoped_lock with(cv);
      ++items;
      cv.notify_all();
    }
  });
  int seen = 0;
  {
    std::scoped_lock with(cv);
    seen = cv.wait_for([&] { return items >= 7 ? items : 0; });
    EXPECT_FALSE(acquirable_elsewhere(cv));  // held on return
  }
  producer.join();
  EXPECT_EQ(seen, 7);

  // Already true: returns the value without waiting for anything.
  std::scoped_lock with(cv);
  auto start = Clock::now();
  EXPECT_EQ(cv.wait_for([] { return 42; }), 42);
  EXPECT_EQ(cv.wait_for([] { return 43; }, 30s), 43);
  EXPECT_EQ(cv.wait_for([] { return std::optional<int>(0); }, 30s), std::optional<int>(0));
  EXPECT_LT(seconds_since(start), kPrompt);
}

TYPED_TEST(ConditionTest, WaitForWithTimeoutReturnsTheLastValue) {
  TypeParam k;
  threading::Condition& cv = k.cv;
  std::scoped_lock with(cv);
  int calls = 0;
  auto start = Clock::now();
  int result = cv.wait_for([&] {
    ++calls;
    return 0;
  }, 50ms);
  double elapsed = seconds_since(start);
  EXPECT_EQ(result, 0);
  EXPECT_GE(calls, 2);  // evaluated before and after the wait
  EXPECT_GE(elapsed, 0.045);
  EXPECT_LT(elapsed, kPrompt);
  EXPECT_FALSE(acquirable_elsewhere(cv));  // held again
}

TYPED_TEST(ConditionTest, WaitForKeepsWaitingThroughUselessNotifications) {
  TypeParam k;
  threading::Condition& cv = k.cv;
  bool ready = false;  // guarded by cv
  int checks = 0;      // guarded by cv
  std::atomic<int> result{-1};
  std::thread waiter([&] {
    std::scoped_lock with(cv);
    result = cv.wait_for([&] {
      ++checks;
      return ready;
    }, 30s) ? 1 : 0;
  });
  // checks == 1: evaluated once, now waiting (the lock was free for us to take).
  bool waiting = eventually([&] { return under(cv, [&] { return checks == 1; }); });
  for (int i = 2; i <= 4; ++i) {
    under(cv, [&] { cv.notify(); });  // predicate still false: it must wait again
    EXPECT_TRUE(eventually([&] { return under(cv, [&] { return checks == i; }); }));
  }
  int before = result.load();
  under(cv, [&] {
    ready = true;
    cv.notify();
  });
  waiter.join();
  EXPECT_TRUE(waiting);
  EXPECT_EQ(before, -1);
  EXPECT_EQ(result.load(), 1);
  EXPECT_EQ(checks, 5);
}

TYPED_TEST(ConditionTest, PredicateExceptionPropagatesWithTheLockHeld) {
  TypeParam k;
  threading::Condition& cv = k.cv;
  cv.acquire();
  EXPECT_THROW(cv.wait_for([]() -> bool { throw std::runtime_error("predicate"); }),
               std::runtime_error);
  int calls = 0;
  EXPECT_THROW(cv.wait_for([&]() -> bool {
    if (++calls == 2) throw std::runtime_error("second call");
    return false;
  }, 10ms), std::runtime_error);
  EXPECT_FALSE(acquirable_elsewhere(cv));
  cv.release();
  EXPECT_TRUE(acquirable_elsewhere(cv));
}

}  // namespace
