// Tests for threading::Condition (Python's threading.Condition), over its default RLock,
// a Lock, an RLock and a user-defined duck-typed lock.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <latch>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <pyconc/errors.hpp>
#include <pyconc/threading.hpp>

#include "support.hpp"

// These tests deliberately wait and notify without the lock, release from helper
// lambdas and hold a Condition's lock across lambdas: clang's static lock analysis cannot
// follow that, so it is switched off for this file.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wthread-safety-analysis"
#endif

namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::Clock;
using pyconc_test::eventually;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;

namespace {

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

/// Runs `acquire(false)` on the condition's lock in another thread (releasing it there
/// if it got it): whether the lock is free.
bool acquirable_elsewhere(threading::Condition& cv) {
  bool got = false;
  std::thread t([&] {
    got = cv.acquire(false);
    if (got) cv.release();
  });
  t.join();
  return got;
}

/// Runs `f` holding the condition's lock; returns what it returns.
template <class F>
auto under(threading::Condition& cv, F f) {
  std::scoped_lock guard(cv);
  return f();
}

}  // namespace

static_assert(!std::is_copy_constructible_v<threading::Condition>);
static_assert(!std::is_move_constructible_v<threading::Condition>);
static_assert(threading::ConditionLock<DuckLock>);
static_assert(threading::ConditionLock<threading::Lock>);
static_assert(threading::ConditionLock<threading::RLock>);
static_assert(!threading::ConditionLock<int>);

template <class Kind>
class ConditionTest : public ::testing::Test {};

using Kinds = ::testing::Types<DefaultKind, LockKind, RLockKind, DuckKind>;

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

TYPED_TEST_SUITE(ConditionTest, Kinds, KindNames);

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

TYPED_TEST(ConditionTest, NotifyWakesExactlyN) {
  constexpr int kWaiters = 5;
  TypeParam k;
  threading::Condition& cv = k.cv;
  int waiting = 0;  // guarded by cv
  std::atomic<int> woken{0};
  std::atomic<int> returned_false{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&] {
      std::scoped_lock with(cv);
      ++waiting;
      if (cv.wait(30s)) woken.fetch_add(1);
      else returned_false.fetch_add(1);
    });
  }
  // A waiter counts itself under the lock and only lets go of it inside wait(), so once
  // we hold the lock and see them all, they are all queued in the condition.
  bool all_waiting = eventually([&] { return under(cv, [&] { return waiting == kWaiters; }); });

  under(cv, [&] { cv.notify(2); });
  bool two_woke = eventually([&] { return woken.load() == 2; });
  std::this_thread::sleep_for(30ms);  // negative check: nobody else wakes up
  int after_two = woken.load();

  under(cv, [&] { cv.notify(1); });
  bool three_woke = eventually([&] { return woken.load() == 3; });
  std::this_thread::sleep_for(30ms);
  int after_three = woken.load();

  under(cv, [&] { cv.notify(10); });  // more than are waiting: wakes the rest
  for (auto& t : threads) t.join();
  EXPECT_TRUE(all_waiting);
  EXPECT_TRUE(two_woke);
  EXPECT_EQ(after_two, 2);
  EXPECT_TRUE(three_woke);
  EXPECT_EQ(after_three, 3);
  EXPECT_EQ(woken.load(), kWaiters);
  EXPECT_EQ(returned_false.load(), 0);
}

TYPED_TEST(ConditionTest, NotifyZeroWakesNobody) {
  TypeParam k;
  threading::Condition& cv = k.cv;
  bool waiting = false;  // guarded by cv
  std::atomic<int> result{-1};
  std::thread t([&] {
    std::scoped_lock with(cv);
    waiting = true;
    result = cv.wait(30s) ? 1 : 0;
  });
  bool queued = eventually([&] { return under(cv, [&] { return waiting; }); });
  under(cv, [&] { cv.notify(0); });
  under(cv, [&] { cv.notify(-1); });  // Python: a negative n wakes nobody (never "all")
  under(cv, [&] { cv.notify(-100); });
  std::this_thread::sleep_for(30ms);
  int early = result.load();
  under(cv, [&] { cv.notify(); });
  t.join();
  EXPECT_TRUE(queued);
  EXPECT_EQ(early, -1);
  EXPECT_EQ(result.load(), 1);
}

TYPED_TEST(ConditionTest, NotifyAllWakesEveryWaiter) {
  constexpr int kWaiters = 6;
  TypeParam k;
  threading::Condition& cv = k.cv;
  int waiting = 0;  // guarded by cv
  std::atomic<int> woken{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&] {
      std::scoped_lock with(cv);
      ++waiting;
      if (cv.wait(30s)) woken.fetch_add(1);
    });
  }
  bool all_waiting = eventually([&] { return under(cv, [&] { return waiting == kWaiters; }); });
  auto start = Clock::now();
  under(cv, [&] { cv.notify_all(); });
  for (auto& t : threads) t.join();
  EXPECT_TRUE(all_waiting);
  EXPECT_EQ(woken.load(), kWaiters);
  EXPECT_LT(seconds_since(start), kPrompt);
}

TYPED_TEST(ConditionTest, NotifyWakesTheOldestWaiterFirst) {
  constexpr int kWaiters = 4;
  TypeParam k;
  threading::Condition& cv = k.cv;
  int waiting = 0;         // guarded by cv
  std::vector<int> order;  // guarded by cv
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&, i] {
      std::scoped_lock with(cv);
      ++waiting;
      if (cv.wait(30s)) order.push_back(i);
    });
    // Start the next one only when this one is queued: queue order == i.
    EXPECT_TRUE(eventually([&] { return under(cv, [&] { return waiting == i + 1; }); }));
  }
  for (int i = 0; i < kWaiters; ++i) {
    under(cv, [&] { cv.notify(); });
    std::size_t expected = static_cast<std::size_t>(i) + 1;
    EXPECT_TRUE(eventually([&] { return under(cv, [&] { return order.size() == expected; }); }));
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

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

TYPED_TEST(ConditionTest, ProducerConsumerStress) {
  constexpr int kProducers = 2;
  constexpr int kConsumers = 2;
  constexpr int kItems = 3000;  // per producer
  constexpr std::size_t kCapacity = 8;
  TypeParam k;
  threading::Condition& cv = k.cv;
  std::deque<int> buffer;  // guarded by cv
  std::vector<int> seen(kProducers * kItems, 0);
  std::atomic<int> timeouts{0};
  std::latch start(kProducers + kConsumers);
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      start.arrive_and_wait();
      for (int i = 0; i < kItems; ++i) {
        std::scoped_lock with(cv);
        if (!cv.wait_for([&] { return buffer.size() < kCapacity; }, 30s)) {
          timeouts.fetch_add(1);
          return;
        }
        buffer.push_back(p * kItems + i);
        cv.notify_all();  // producers and consumers share the condition
      }
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < kProducers * kItems / kConsumers; ++i) {
        std::scoped_lock with(cv);
        if (!cv.wait_for([&] { return !buffer.empty(); }, 30s)) {
          timeouts.fetch_add(1);
          return;
        }
        ++seen[buffer.front()];
        buffer.pop_front();
        cv.notify_all();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(timeouts.load(), 0);
  EXPECT_TRUE(buffer.empty());
  for (std::size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], 1) << "item " << i;
}

TYPED_TEST(ConditionTest, NoNotificationIsLost) {
  // Waiters with tiny timeouts race a notifier. The notifier keeps an exact count of
  // how many waiters are queued (a waiter that returns false dequeued itself; one that
  // returns true was dequeued by a notify), so each notify(n) must wake exactly n, and
  // the number of waits that returned true must equal the number of notifications sent.
  constexpr int kWaiters = 4;
  constexpr int kWaits = 200;
  TypeParam k;
  threading::Condition& cv = k.cv;
  int queued = 0;       // guarded by cv
  long sent = 0;        // guarded by cv
  long got_true = 0;    // guarded by cv
  long got_false = 0;   // guarded by cv
  int finished = 0;     // guarded by cv
  bool went_negative = false;  // guarded by cv
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&, i] {
      const pyconc::Seconds timeouts[] = {0s, 100us, 500us, 2ms};
      for (int n = 0; n < kWaits; ++n) {
        std::scoped_lock with(cv);
        ++queued;
        if (cv.wait(timeouts[(n + i) % 4])) {
          ++got_true;
        } else {
          ++got_false;
          if (--queued < 0) went_negative = true;
        }
      }
      std::scoped_lock with(cv);
      ++finished;
    });
  }
  for (long round = 0;; ++round) {
    {
      std::scoped_lock with(cv);
      if (finished == kWaiters) break;
      if (queued > 0) {
        int n = (queued >= 2 && round % 3 == 0) ? 2 : 1;
        cv.notify(static_cast<std::size_t>(n));
        queued -= n;
        sent += n;
      }
    }
    // Pace the notifications so that they land around the waiters' timeouts.
    std::this_thread::sleep_for(std::chrono::microseconds(round * 7919 % 700));
  }
  for (auto& t : threads) t.join();
  std::scoped_lock with(cv);
  EXPECT_FALSE(went_negative);
  EXPECT_EQ(queued, 0);
  EXPECT_EQ(got_true + got_false, static_cast<long>(kWaiters) * kWaits);
  EXPECT_EQ(got_true, sent);
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
