// Tests for threading::Event (Python's threading.Event).
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <pyconc/errors.hpp>
#include <pyconc/threading.hpp>

#include "support.hpp"

namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::Clock;
using pyconc_test::asleep_in_futex;
using pyconc_test::eventually;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;

namespace {

/// A thread blocked in `event.wait(30s)`, whose result is kept.
class Waiter {
 public:
  explicit Waiter(threading::Event& event)
      : thread_([this, &event] {
          tid_ = gettid();
          auto start = Clock::now();
          bool r = event.wait(30s);
          waited_ = seconds_since(start);
          result_ = r ? 1 : 0;
        }) {}
  ~Waiter() { join(); }
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  /// Whether it is asleep inside `event` (started after every other waiter is asleep and
  /// while nobody calls set/clear, that can only be the wait for the flag itself).
  bool asleep(const threading::Event& event) const { return asleep_in_futex(tid_, &event, sizeof event); }
  /// -1 while wait() has not returned, else 1 (true) or 0 (false).
  int result() const { return result_.load(); }
  double waited() const { return waited_; }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<long> tid_{0};
  std::atomic<int> result_{-1};
  double waited_ = 0;
  std::thread thread_;
};

}  // namespace

static_assert(!std::is_copy_constructible_v<threading::Event>);
static_assert(!std::is_move_constructible_v<threading::Event>);

TEST(Event, StartsUnset) {
  threading::Event event;
  EXPECT_FALSE(event.is_set());
}

TEST(Event, SetAndClear) {
  threading::Event event;
  event.set();
  EXPECT_TRUE(event.is_set());
  event.set();  // idempotent
  EXPECT_TRUE(event.is_set());
  event.clear();
  EXPECT_FALSE(event.is_set());
  event.clear();
  EXPECT_FALSE(event.is_set());
  event.set();
  EXPECT_TRUE(event.is_set());
}

TEST(Event, WaitReturnsAtOnceWhenSet) {
  threading::Event event;
  event.set();
  auto start = Clock::now();
  EXPECT_TRUE(event.wait());
  EXPECT_TRUE(event.wait(30s));
  EXPECT_TRUE(event.wait(0s));
  EXPECT_TRUE(event.wait(-1s));
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_TRUE(event.is_set());  // waiting does not consume the flag
}

TEST(Event, TimedWaitOnUnsetEventTimesOut) {
  threading::Event event;
  auto start = Clock::now();
  EXPECT_FALSE(event.wait(50ms));
  double elapsed = seconds_since(start);
  EXPECT_GE(elapsed, 0.045);
  EXPECT_LT(elapsed, kPrompt);
  EXPECT_FALSE(event.is_set());
}

TEST(Event, NonPositiveTimeoutDoesNotBlock) {
  threading::Event event;
  auto start = Clock::now();
  EXPECT_FALSE(event.wait(-1s));
  EXPECT_FALSE(event.wait(-0.001s));
  EXPECT_FALSE(event.wait(0s));
  EXPECT_LT(seconds_since(start), kPrompt);
}

TEST(Event, TimeoutAboveTimeoutMax) {
  threading::Event event;
  EXPECT_THROW(event.wait(threading::TIMEOUT_MAX * 2), pyconc::OverflowError);
  event.set();
  // Python's Event.wait returns True at once when the flag is set, whatever the timeout.
  EXPECT_TRUE(event.wait(threading::TIMEOUT_MAX * 2));
}

TEST(Event, SetByAnotherThreadWakesTheWaiter) {
  threading::Event event;
  Waiter waiter(event);
  bool slept = eventually([&] { return waiter.asleep(event); });
  int early = waiter.result();
  auto set_at = Clock::now();
  event.set();
  waiter.join();
  EXPECT_TRUE(slept) << "the waiter never blocked on the event";
  EXPECT_EQ(early, -1);
  EXPECT_EQ(waiter.result(), 1);
  EXPECT_LT(waiter.waited(), 30.0 - 1.0);
  EXPECT_LT(seconds_since(set_at), kPrompt);
}

TEST(Event, UntimedWaitReturnsTrueWhenSet) {
  threading::Event event;
  std::atomic<long> tid{0};
  std::atomic<int> result{-1};
  std::thread t([&] {
    tid = gettid();
    result = event.wait() ? 1 : 0;
  });
  bool slept = eventually([&] { return asleep_in_futex(tid, &event, sizeof event); });
  int early = result.load();
  event.set();
  t.join();
  EXPECT_TRUE(slept);
  EXPECT_EQ(early, -1);
  EXPECT_EQ(result.load(), 1);
}

TEST(Event, SetWakesEveryWaiter) {
  constexpr int kWaiters = 5;
  threading::Event event;
  std::vector<std::unique_ptr<Waiter>> waiters;
  for (int i = 0; i < kWaiters; ++i) waiters.push_back(std::make_unique<Waiter>(event));
  bool all_slept = eventually([&] {
    for (auto& w : waiters)
      if (!w->asleep(event)) return false;
    return true;
  });
  event.set();
  for (auto& w : waiters) w->join();
  EXPECT_TRUE(all_slept);
  for (auto& w : waiters) {
    EXPECT_EQ(w->result(), 1);
    EXPECT_LT(w->waited(), 30.0 - 1.0);
  }
}

TEST(Event, ClearDoesNotWakeWaiters) {
  threading::Event event;
  Waiter waiter(event);
  bool slept = eventually([&] { return waiter.asleep(event); });
  event.clear();
  std::this_thread::sleep_for(30ms);  // negative check
  int after_clear = waiter.result();
  event.set();
  waiter.join();
  EXPECT_TRUE(slept);
  EXPECT_EQ(after_clear, -1);
  EXPECT_EQ(waiter.result(), 1);
}

TEST(Event, SetThenImmediateClearStillWakesEveryWaiter) {
  // Python: a waiter returns True when the flag was set during its wait, even if it was
  // cleared again before the waiter ran. The waiters are started one at a time, each only
  // once the previous ones are asleep; with nobody calling set/clear meanwhile, a waiter
  // asleep inside the Event can only be sleeping in the wait for the flag. Then set() and
  // clear() back to back: every one of them must still return true.
  constexpr int kWaiters = 4;
  threading::Event event;
  std::vector<std::unique_ptr<Waiter>> waiters;
  bool all_slept = true;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.push_back(std::make_unique<Waiter>(event));
    Waiter& w = *waiters.back();
    all_slept = eventually([&] { return w.asleep(event); }) && all_slept;
  }
  event.set();
  event.clear();
  for (auto& w : waiters) w->join();
  ASSERT_TRUE(all_slept) << "a waiter never blocked on the event";
  for (auto& w : waiters) {
    EXPECT_EQ(w->result(), 1);
    EXPECT_LT(w->waited(), 30.0 - 1.0);
  }
  EXPECT_FALSE(event.is_set());
  EXPECT_FALSE(event.wait(20ms));  // and a new waiter sees the cleared flag
}

TEST(Event, RepeatedSetClearWithOneWaiter) {
  // The same, round after round, to catch state that leaks from one set() to the next.
  constexpr int kRounds = 50;
  threading::Event event;
  for (int round = 0; round < kRounds; ++round) {
    Waiter waiter(event);
    bool slept = eventually([&] { return waiter.asleep(event); });
    event.set();
    event.clear();
    waiter.join();
    ASSERT_TRUE(slept) << "round " << round;
    ASSERT_EQ(waiter.result(), 1) << "round " << round;
  }
}

TEST(Event, WritesBeforeSetAreVisibleAfterWait) {
  threading::Event event;
  std::vector<int> data;  // plain: ThreadSanitizer checks the ordering
  std::thread producer([&] {
    data.assign(1000, 7);
    event.set();
  });
  ASSERT_TRUE(event.wait(30s));
  EXPECT_EQ(data.size(), 1000u);
  EXPECT_EQ(data[999], 7);
  producer.join();

  threading::Event flag;
  int value = 0;
  std::thread writer([&] {
    value = 42;
    flag.set();
  });
  ASSERT_TRUE(eventually([&] { return flag.is_set(); }));  // is_set() == true also orders
  EXPECT_EQ(value, 42);
  writer.join();
}

TEST(Event, StressPingPong) {
  constexpr int kRounds = 3000;
  threading::Event go, done;
  long shared = 0;
  std::atomic<int> failures{0};
  std::thread worker([&] {
    for (int n = 0; n < kRounds; ++n) {
      if (!go.wait(30s)) {
        failures.fetch_add(1);
        return;
      }
      go.clear();
      ++shared;
      done.set();
    }
  });
  for (int n = 0; n < kRounds; ++n) {
    go.set();
    if (!done.wait(30s)) {
      failures.fetch_add(1);
      break;
    }
    done.clear();
    EXPECT_EQ(shared, n + 1);
  }
  worker.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(shared, kRounds);
}

TEST(Event, StressWaitersRacingSetAndClear) {
  // Waiters with short timeouts race a thread toggling the flag; once it leaves the flag
  // set for good, every waiter must see it. Nothing may hang or crash on the way.
  constexpr int kWaiters = 4;
  constexpr int kToggles = 10000;
  threading::Event event;
  std::atomic<bool> final_set{false};
  std::atomic<long> trues{0};
  std::atomic<int> finished{0};
  std::latch start(kWaiters + 1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      const pyconc::Seconds timeouts[] = {0s, 10us, 100us, 1ms};
      for (int n = 0; !final_set.load(); ++n) {
        if (event.wait(timeouts[(n + i) % 4])) trues.fetch_add(1);
      }
      if (event.wait(30s)) finished.fetch_add(1);  // set for good now
    });
  }
  threads.emplace_back([&] {
    start.arrive_and_wait();
    for (int n = 0; n < kToggles; ++n) {
      event.set();
      event.clear();
    }
    event.set();
    final_set = true;
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(finished.load(), kWaiters);
  EXPECT_TRUE(event.is_set());
}
