// Tests for threading::Condition (Python's threading.Condition), over its default RLock,
// a Lock, an RLock and a user-defined duck-typed lock: the lock it wraps, ownership, and
// timeouts. Notification is in test_condition_notify.cpp, wait_for in
// test_condition_wait_for.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <deque>
#include <latch>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

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
using pyconc_test::DefaultKind;
using pyconc_test::DuckLock;
using pyconc_test::KindNames;
using pyconc_test::kPrompt;
using pyconc_test::RLockKind;
using pyconc_test::seconds_since;

static_assert(!std::is_copy_constructible_v<threading::Condition>);
static_assert(!std::is_move_constructible_v<threading::Condition>);
static_assert(threading::ConditionLock<DuckLock>);
static_assert(threading::ConditionLock<threading::Lock>);
static_assert(threading::ConditionLock<threading::RLock>);
static_assert(!threading::ConditionLock<int>);

namespace {

TYPED_TEST_SUITE(ConditionTest, ConditionKinds, KindNames);

TYPED_TEST(ConditionTest, WaitWithoutTheLockIsRuntimeError) {
  TypeParam k;
  threading::Condition& cv = k.cv;
  EXPECT_THROW(cv.wait(), pyconc::RuntimeError);
  EXPECT_THROW(cv.wait(1s), pyconc::RuntimeError);
  EXPECT_THROW(cv.wait(-1s), pyconc::RuntimeError);
  EXPECT_THROW(cv.wait_for([] { return false; }), pyconc::RuntimeError);
  EXPECT_THROW(cv.wait_for([] { return false; }, 1s), pyconc::RuntimeError);
  // As in Python, a predicate that is already true returns before any wait.
  EXPECT_TRUE(cv.wait_for([] { return true; }));
  EXPECT_TRUE(acquirable_elsewhere(cv));  // nothing was left locked
}

TYPED_TEST(ConditionTest, NotifyWithoutTheLockIsRuntimeError) {
  TypeParam k;
  threading::Condition& cv = k.cv;
  EXPECT_THROW(cv.notify(), pyconc::RuntimeError);
  EXPECT_THROW(cv.notify(3), pyconc::RuntimeError);
  EXPECT_THROW(cv.notify_all(), pyconc::RuntimeError);
  EXPECT_TRUE(acquirable_elsewhere(cv));
  // With the lock held, notifying nobody is fine.
  std::scoped_lock with(cv);
  cv.notify();
  cv.notify(5);
  cv.notify_all();
}

TYPED_TEST(ConditionTest, AcquireAndReleaseAreTheLocks) {
  TypeParam k;
  threading::Condition& cv = k.cv;
  EXPECT_TRUE(cv.acquire());
  EXPECT_FALSE(acquirable_elsewhere(cv));
  cv.release();
  EXPECT_TRUE(acquirable_elsewhere(cv));
  EXPECT_TRUE(cv.acquire(false));
  cv.release();
  EXPECT_TRUE(cv.acquire(true, 1s));
  cv.release();
  EXPECT_TRUE(cv.acquire(0.5s));
  cv.release();
  EXPECT_TRUE(cv.try_lock());
  cv.unlock();
  EXPECT_THROW(cv.acquire(false, 1s), pyconc::ValueError);
  EXPECT_THROW(cv.acquire(true, -2s), pyconc::ValueError);
  EXPECT_THROW(cv.acquire(true, threading::TIMEOUT_MAX * 2), pyconc::OverflowError);
  {
    std::scoped_lock with(cv);
    EXPECT_FALSE(acquirable_elsewhere(cv));
  }
  EXPECT_TRUE(acquirable_elsewhere(cv));
}

TYPED_TEST(ConditionTest, TimedAcquireOfHeldLockTimesOut) {
  TypeParam k;
  threading::Condition& cv = k.cv;
  std::scoped_lock with(cv);
  bool got = true;
  double elapsed = 0;
  std::thread([&] {
    auto start = Clock::now();
    got = cv.acquire(true, 50ms);
    elapsed = seconds_since(start);
    if (got) cv.release();
  }).join();
  EXPECT_FALSE(got);
  EXPECT_GE(elapsed, 0.045);
  EXPECT_LT(elapsed, kPrompt);
}

TYPED_TEST(ConditionTest, WaitTimesOutAndHoldsTheLockAgain) {
  TypeParam k;
  threading::Condition& cv = k.cv;
  cv.acquire();
  auto start = Clock::now();
  bool notified = cv.wait(50ms);
  double elapsed = seconds_since(start);
  EXPECT_FALSE(notified);
  EXPECT_GE(elapsed, 0.045);
  EXPECT_LT(elapsed, kPrompt);
  EXPECT_FALSE(acquirable_elsewhere(cv));  // held again
  cv.release();
  EXPECT_TRUE(acquirable_elsewhere(cv));
}

TYPED_TEST(ConditionTest, NonPositiveTimeoutDoesNotBlock) {
  TypeParam k;
  threading::Condition& cv = k.cv;
  std::scoped_lock with(cv);
  auto start = Clock::now();
  EXPECT_FALSE(cv.wait(-1s));
  EXPECT_FALSE(cv.wait(-0.001s));
  EXPECT_FALSE(cv.wait(0s));
  EXPECT_FALSE(cv.wait_for([] { return false; }, -1s));
  EXPECT_EQ(cv.wait_for([] { return 0; }, 0s), 0);
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_FALSE(acquirable_elsewhere(cv));
}

TYPED_TEST(ConditionTest, WaitTimeoutAboveTimeoutMaxIsOverflowError) {
  TypeParam k;
  threading::Condition& cv = k.cv;
  std::scoped_lock with(cv);
  EXPECT_THROW(cv.wait(threading::TIMEOUT_MAX * 2), pyconc::OverflowError);
  EXPECT_FALSE(acquirable_elsewhere(cv));
}

TYPED_TEST(ConditionTest, NotificationsAreNotRemembered) {
  TypeParam k;
  threading::Condition& cv = k.cv;
  std::scoped_lock with(cv);
  cv.notify();
  cv.notify_all();
  EXPECT_FALSE(cv.wait(30ms));  // a notify with no waiter is lost, as in Python
}

// --- RLock-specific behaviour: ownership, and wait() releasing every level. -----------

template <class Kind>
class RLockConditionTest : public ::testing::Test {};
using RLockKinds = ::testing::Types<DefaultKind, RLockKind>;
TYPED_TEST_SUITE(RLockConditionTest, RLockKinds, KindNames);

TYPED_TEST(RLockConditionTest, TheLockIsReentrant) {
  TypeParam k;
  threading::Condition& cv = k.cv;
  EXPECT_TRUE(cv.acquire());
  EXPECT_TRUE(cv.acquire(false));
  cv.release();
  EXPECT_FALSE(acquirable_elsewhere(cv));
  cv.release();
  EXPECT_TRUE(acquirable_elsewhere(cv));
  EXPECT_THROW(cv.release(), pyconc::RuntimeError);
}

TYPED_TEST(RLockConditionTest, WaitReleasesEveryLevelAndRestoresThem) {
  constexpr int kLevels = 3;
  TypeParam k;
  threading::Condition& cv = k.cv;
  for (int i = 0; i < kLevels; ++i) cv.acquire();
  std::atomic<bool> other_got_it{false};
  // This thread can only get the lock while we wait: our wait must let go of all levels.
  std::thread other([&] {
    if (cv.acquire(true, 20s)) {
      other_got_it = true;
      cv.notify();
      cv.release();
    }
  });
  bool notified = cv.wait(20s);
  other.join();
  EXPECT_TRUE(other_got_it);
  EXPECT_TRUE(notified);
  // Back at kLevels: it takes kLevels releases to free the lock.
  for (int i = 0; i < kLevels - 1; ++i) {
    cv.release();
    EXPECT_FALSE(acquirable_elsewhere(cv)) << "after " << i + 1 << " releases";
  }
  cv.release();
  EXPECT_TRUE(acquirable_elsewhere(cv));
  EXPECT_THROW(cv.release(), pyconc::RuntimeError);
}

TYPED_TEST(RLockConditionTest, TimedOutWaitRestoresEveryLevel) {
  constexpr int kLevels = 4;
  TypeParam k;
  threading::Condition& cv = k.cv;
  for (int i = 0; i < kLevels; ++i) cv.acquire();
  EXPECT_FALSE(cv.wait(10ms));
  EXPECT_FALSE(cv.wait(-1s));
  for (int i = 0; i < kLevels - 1; ++i) cv.release();
  EXPECT_FALSE(acquirable_elsewhere(cv));
  cv.release();
  EXPECT_TRUE(acquirable_elsewhere(cv));
}

TYPED_TEST(RLockConditionTest, WaitAndNotifyNeedOwnershipNotJustALockedLock) {
  TypeParam k;
  threading::Condition& cv = k.cv;
  std::atomic<bool> holding{false}, let_go{false};
  std::thread holder([&] {
    cv.acquire();
    holding = true;
    while (!let_go) std::this_thread::yield();
    cv.release();
  });
  while (!holding) std::this_thread::yield();
  // The lock is held, but by another thread: for an RLock that is not ownership.
  EXPECT_THROW(cv.wait(0s), pyconc::RuntimeError);
  EXPECT_THROW(cv.notify(), pyconc::RuntimeError);
  EXPECT_THROW(cv.notify_all(), pyconc::RuntimeError);
  EXPECT_THROW(cv.release(), pyconc::RuntimeError);
  let_go = true;
  holder.join();
}

// --- Several Conditions over one lock. ------------------------------------------------

TEST(Condition, TwoConditionsOverOneLockBoundedBuffer) {
  // Python's classic bounded buffer: not_full and not_empty share one Lock, and each
  // side notifies exactly one waiter of the other side.
  constexpr int kProducers = 2;
  constexpr int kConsumers = 3;
  constexpr int kItems = 3000;  // per producer, divisible by kConsumers
  constexpr std::size_t kCapacity = 4;
  threading::Lock lock;
  threading::Condition not_full(lock), not_empty(lock);
  std::deque<int> buffer;  // guarded by lock
  long sum = 0;            // guarded by lock
  long count = 0;          // guarded by lock
  std::atomic<int> timeouts{0};
  std::latch start(kProducers + kConsumers);
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      start.arrive_and_wait();
      for (int i = 1; i <= kItems; ++i) {
        std::scoped_lock with(not_full);  // locks `lock`
        if (!not_full.wait_for([&] { return buffer.size() < kCapacity; }, 30s)) {
          timeouts.fetch_add(1);
          return;
        }
        buffer.push_back(p * kItems + i);
        not_empty.notify();
      }
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < kProducers * kItems / kConsumers; ++i) {
        std::scoped_lock with(lock);
        if (!not_empty.wait_for([&] { return !buffer.empty(); }, 30s)) {
          timeouts.fetch_add(1);
          return;
        }
        sum += buffer.front();
        ++count;
        buffer.pop_front();
        not_full.notify();
      }
    });
  }
  for (auto& t : threads) t.join();
  long n = static_cast<long>(kProducers) * kItems;
  EXPECT_EQ(timeouts.load(), 0);
  EXPECT_EQ(count, n);
  EXPECT_EQ(sum, n * (n + 1) / 2);
  EXPECT_TRUE(buffer.empty());
  EXPECT_FALSE(lock.locked());
}

TEST(Condition, OverLockHoldsThatLockAfterWait) {
  threading::Lock lock;
  threading::Condition cv(lock);
  lock.acquire();  // Python: `with lock:` then cv.wait() is the same as `with cv:`
  EXPECT_FALSE(cv.wait(10ms));
  EXPECT_TRUE(lock.locked());
  lock.release();
  EXPECT_FALSE(lock.locked());
}

TEST(Condition, OverDuckLockUsesItsAcquireAndRelease) {
  DuckLock duck;
  threading::Condition cv(duck);
  long before = duck.calls.load();
  cv.acquire();
  EXPECT_TRUE(duck.inner.locked());
  EXPECT_FALSE(cv.wait(5ms));
  EXPECT_TRUE(duck.inner.locked());
  cv.release();
  EXPECT_FALSE(duck.inner.locked());
  EXPECT_GT(duck.calls.load(), before + 1);
}

}  // namespace
