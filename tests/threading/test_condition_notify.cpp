// threading::Condition's notify and notify_all: how many waiters wake and in which
// order, that a notification is not remembered and none is lost under load; over each
// kind of lock.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <latch>
#include <mutex>
#include <thread>
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

}  // namespace
