// Tests for threading::Semaphore and threading::BoundedSemaphore.
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <latch>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <pyconc/errors.hpp>
#include <pyconc/threading.hpp>

#include "support.hpp"
#include "threading/lock_support.hpp"

// A semaphore is acquired in one thread and released in another by design; clang's
// static lock analysis cannot follow that, so it is switched off for this file.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wthread-safety-analysis"
#endif

namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::Clock;
using pyconc_test::asleep_in_futex;
using pyconc_test::eventually;
using pyconc_test::expect_times_out_after_50ms;
using pyconc_test::kPrompt;
using pyconc_test::message_of;
using pyconc_test::ping_pong;
using pyconc_test::race_timed_and_patient_acquires;
using pyconc_test::seconds_since;

namespace {

constexpr long long kMaxCount = 4294967295LL;  // 2**32 - 1, pyconc's documented bound

}  // namespace

static_assert(!std::is_copy_constructible_v<threading::Semaphore>);
static_assert(std::is_base_of_v<threading::Semaphore, threading::BoundedSemaphore>);

TEST(Semaphore, NegativeInitialValueIsValueError) {
  EXPECT_THROW(threading::Semaphore(-1), pyconc::ValueError);
  EXPECT_THROW(threading::Semaphore(-100), pyconc::ValueError);
  EXPECT_THROW(threading::BoundedSemaphore(-1), pyconc::ValueError);
  EXPECT_EQ(message_of<pyconc::ValueError>([] { threading::Semaphore s(-1); }),
            "semaphore initial value must be >= 0");
  EXPECT_EQ(message_of<pyconc::ValueError>([] { threading::BoundedSemaphore s(-1); }),
            "semaphore initial value must be >= 0");
}

TEST(Semaphore, DefaultValueIsOne) {
  threading::Semaphore sem;
  EXPECT_EQ(sem.value(), 1);
  threading::BoundedSemaphore bounded;
  EXPECT_EQ(bounded.value(), 1);
  threading::Semaphore zero(0);
  EXPECT_EQ(zero.value(), 0);
}

TEST(Semaphore, AcquireAndReleaseCount) {
  threading::Semaphore sem(3);
  EXPECT_TRUE(sem.acquire());
  EXPECT_EQ(sem.value(), 2);
  EXPECT_TRUE(sem.acquire(true));
  EXPECT_TRUE(sem.acquire(false));
  EXPECT_EQ(sem.value(), 0);
  EXPECT_FALSE(sem.acquire(false));
  EXPECT_EQ(sem.value(), 0);
  sem.release();
  EXPECT_EQ(sem.value(), 1);
  sem.release(2);
  EXPECT_EQ(sem.value(), 3);
  EXPECT_TRUE(sem.acquire(true, 1s));
  EXPECT_TRUE(sem.acquire(1s));
  EXPECT_EQ(sem.value(), 1);
}

TEST(Semaphore, NonBlockingAcquireOfZeroFailsAtOnce) {
  threading::Semaphore sem(0);
  auto start = Clock::now();
  EXPECT_FALSE(sem.acquire(false));
  EXPECT_FALSE(sem.try_lock());
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_EQ(sem.value(), 0);
}

TEST(Semaphore, TimeoutWithNonBlockingIsValueError) {
  threading::Semaphore sem(1);
  EXPECT_THROW(sem.acquire(false, 1s), pyconc::ValueError);
  EXPECT_THROW(sem.acquire(false, 0s), pyconc::ValueError);
  // Unlike Lock, Python's Semaphore refuses any timeout with blocking=False, even -1.
  EXPECT_THROW(sem.acquire(false, -1s), pyconc::ValueError);
  EXPECT_EQ(sem.value(), 1);
  threading::Semaphore empty(0);
  EXPECT_THROW(empty.acquire(false, 1s), pyconc::ValueError);
  EXPECT_EQ(empty.value(), 0);
}

TEST(Semaphore, TimedAcquireTimesOut) {
  threading::Semaphore sem(0);
  expect_times_out_after_50ms([&] { return sem.acquire(true, 50ms); });
  expect_times_out_after_50ms([&] { return sem.acquire(0.05s); });
  expect_times_out_after_50ms([&] { return sem.try_lock_for(50ms); });
  EXPECT_EQ(sem.value(), 0);
}

TEST(Semaphore, NonPositiveTimeoutDoesNotWait) {
  threading::Semaphore empty(0);
  auto start = Clock::now();
  EXPECT_FALSE(empty.acquire(true, -1s));
  EXPECT_FALSE(empty.acquire(true, -0.5s));  // no ValueError: Python's Semaphore allows it
  EXPECT_FALSE(empty.acquire(true, 0s));
  EXPECT_FALSE(empty.acquire(-3s));
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_EQ(empty.value(), 0);

  // A free unit is taken whatever the timeout.
  threading::Semaphore two(2);
  EXPECT_TRUE(two.acquire(true, -5s));
  EXPECT_TRUE(two.acquire(0s));
  EXPECT_EQ(two.value(), 0);
}

TEST(Semaphore, TimeoutAboveTimeoutMaxIsOverflowError) {
  threading::Semaphore sem(0);
  EXPECT_THROW(sem.acquire(true, threading::TIMEOUT_MAX * 2), pyconc::OverflowError);
  EXPECT_EQ(sem.value(), 0);
  // As in Python, the timeout only matters when the call has to wait: a free unit is
  // taken whatever the timeout.
  sem.release();
  EXPECT_TRUE(sem.acquire(true, threading::TIMEOUT_MAX * 2));
  EXPECT_EQ(sem.value(), 0);
}

TEST(Semaphore, ReleaseWakesABlockedAcquire) {
  threading::Semaphore sem(0);
  std::atomic<long> tid{0};
  std::atomic<bool> returned{false};
  bool got = false;
  double waited = 0;
  std::thread t([&] {
    tid = gettid();
    auto start = Clock::now();
    got = sem.acquire(true, 30s);
    waited = seconds_since(start);
    returned = true;
  });
  bool slept = eventually([&] { return asleep_in_futex(tid, &sem, sizeof sem); });
  bool returned_early = returned.load();
  sem.release();  // from a thread that never acquired: semaphores are not owned
  t.join();
  EXPECT_TRUE(slept) << "the acquiring thread never blocked on the semaphore";
  EXPECT_FALSE(returned_early);
  EXPECT_TRUE(got);
  EXPECT_LT(waited, 30.0 - 1.0);
  EXPECT_EQ(sem.value(), 0);
}

TEST(Semaphore, UntimedAcquireWaitsForRelease) {
  threading::Semaphore sem(0);
  std::atomic<long> tid{0};
  std::atomic<bool> returned{false};
  std::thread t([&] {
    tid = gettid();
    sem.acquire();
    returned = true;
  });
  bool slept = eventually([&] { return asleep_in_futex(tid, &sem, sizeof sem); });
  bool returned_early = returned.load();
  sem.release();
  t.join();
  EXPECT_TRUE(slept);
  EXPECT_FALSE(returned_early);
  EXPECT_TRUE(returned.load());
  EXPECT_EQ(sem.value(), 0);
}

TEST(Semaphore, ReleaseNWakesNWaiters) {
  constexpr int kWaiters = 5;
  threading::Semaphore sem(0);
  std::atomic<long> tids[kWaiters] = {};
  std::atomic<int> acquired{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&, i] {
      tids[i] = gettid();
      if (sem.acquire(true, 30s)) acquired.fetch_add(1);
      else failed.fetch_add(1);
    });
  }
  bool all_slept = eventually([&] {
    for (auto& tid : tids)
      if (!asleep_in_futex(tid, &sem, sizeof sem)) return false;
    return true;
  });
  sem.release(3);
  bool three = eventually([&] { return acquired.load() == 3; });
  std::this_thread::sleep_for(30ms);  // negative check: no more than three get through
  int after_three = acquired.load();
  long long value_after_three = sem.value();
  sem.release(2);
  for (auto& t : threads) t.join();
  EXPECT_TRUE(all_slept);
  EXPECT_TRUE(three);
  EXPECT_EQ(after_three, 3);
  EXPECT_EQ(value_after_three, 0);
  EXPECT_EQ(acquired.load(), kWaiters);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(sem.value(), 0);
}

TEST(Semaphore, ReleaseMoreThanWaitersKeepsTheRest) {
  threading::Semaphore sem(0);
  std::atomic<long> tids[2] = {};
  std::atomic<int> acquired{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      tids[i] = gettid();
      if (sem.acquire(true, 30s)) acquired.fetch_add(1);
    });
  }
  bool slept = eventually([&] {
    return asleep_in_futex(tids[0], &sem, sizeof sem) && asleep_in_futex(tids[1], &sem, sizeof sem);
  });
  sem.release(5);
  for (auto& t : threads) t.join();
  EXPECT_TRUE(slept);
  EXPECT_EQ(acquired.load(), 2);
  EXPECT_EQ(sem.value(), 3);
}

TEST(Semaphore, ReleaseOfLessThanOneIsValueError) {
  threading::Semaphore sem(2);
  EXPECT_THROW(sem.release(0), pyconc::ValueError);
  EXPECT_THROW(sem.release(-1), pyconc::ValueError);
  EXPECT_EQ(sem.value(), 2);
  threading::BoundedSemaphore bounded(2);
  bounded.acquire();
  EXPECT_THROW(bounded.release(0), pyconc::ValueError);
  EXPECT_EQ(bounded.value(), 1);
}

TEST(Semaphore, UnboundedReleaseMayExceedTheInitialValue) {
  threading::Semaphore sem(1);
  sem.release();
  sem.release(5);
  EXPECT_EQ(sem.value(), 7);
  for (int i = 0; i < 7; ++i) EXPECT_TRUE(sem.acquire(false));
  EXPECT_FALSE(sem.acquire(false));
}

TEST(BoundedSemaphore, OverReleaseIsValueErrorAndChangesNothing) {
  threading::BoundedSemaphore sem(2);
  EXPECT_EQ(message_of<pyconc::ValueError>([&] { sem.release(); }), "Semaphore released too many times");
  EXPECT_EQ(sem.value(), 2);
  sem.acquire();
  EXPECT_EQ(sem.value(), 1);
  EXPECT_EQ(message_of<pyconc::ValueError>([&] { sem.release(2); }), "Semaphore released too many times");
  EXPECT_EQ(sem.value(), 1);  // no partial release
  sem.release();
  EXPECT_EQ(sem.value(), 2);
  EXPECT_THROW(sem.release(), pyconc::ValueError);
  sem.acquire();
  sem.acquire();
  sem.release(2);  // exactly back to the bound is fine
  EXPECT_EQ(sem.value(), 2);

  threading::BoundedSemaphore zero(0);
  EXPECT_THROW(zero.release(), pyconc::ValueError);
  EXPECT_EQ(zero.value(), 0);
  EXPECT_FALSE(zero.acquire(false));
}

TEST(BoundedSemaphore, BehavesAsASemaphoreOtherwise) {
  threading::BoundedSemaphore sem(2);
  EXPECT_TRUE(sem.acquire());
  EXPECT_TRUE(sem.acquire(false));
  EXPECT_FALSE(sem.acquire(false));
  auto start = Clock::now();
  EXPECT_FALSE(sem.acquire(true, 50ms));
  EXPECT_GE(seconds_since(start), 0.045);
  EXPECT_THROW(sem.acquire(false, 1s), pyconc::ValueError);
  std::thread([&] { sem.release(); }).join();  // any thread may release
  EXPECT_EQ(sem.value(), 1);
  {
    std::scoped_lock guard(sem);
    EXPECT_EQ(sem.value(), 0);
  }
  EXPECT_EQ(sem.value(), 1);
}

TEST(Semaphore, CountBeyondTheBoundIsOverflowError) {
  EXPECT_THROW(threading::Semaphore(kMaxCount + 1), pyconc::OverflowError);
  threading::Semaphore sem(kMaxCount);
  EXPECT_EQ(sem.value(), kMaxCount);
  EXPECT_THROW(sem.release(), pyconc::OverflowError);
  EXPECT_EQ(sem.value(), kMaxCount);
  EXPECT_TRUE(sem.acquire(false));
  EXPECT_THROW(sem.release(2), pyconc::OverflowError);
  sem.release();
  EXPECT_EQ(sem.value(), kMaxCount);

  threading::BoundedSemaphore bounded(kMaxCount);
  EXPECT_THROW(bounded.release(), pyconc::ValueError);  // the bounded error wins

  // Huge n: refused without arithmetic overflow, and nothing changes.
  constexpr long long kHuge = std::numeric_limits<long long>::max();
  threading::Semaphore one(1);
  EXPECT_THROW(one.release(kHuge), pyconc::OverflowError);
  EXPECT_EQ(one.value(), 1);
  threading::BoundedSemaphore bounded_one(1);
  bounded_one.acquire();
  EXPECT_THROW(bounded_one.release(kHuge), pyconc::ValueError);
  EXPECT_EQ(bounded_one.value(), 0);
}

TEST(Semaphore, ScopedLockTakesAndReturnsAUnit) {
  threading::Semaphore sem(2);
  {
    std::scoped_lock guard(sem);
    EXPECT_EQ(sem.value(), 1);
    {
      std::scoped_lock inner(sem);
      EXPECT_EQ(sem.value(), 0);
    }
    EXPECT_EQ(sem.value(), 1);
  }
  EXPECT_EQ(sem.value(), 2);
  {
    std::unique_lock<threading::Semaphore> a(sem, std::try_to_lock);
    std::unique_lock<threading::Semaphore> b(sem, std::try_to_lock);
    std::unique_lock<threading::Semaphore> c(sem, std::try_to_lock);
    EXPECT_TRUE(a.owns_lock());
    EXPECT_TRUE(b.owns_lock());
    EXPECT_FALSE(c.owns_lock());
    auto start = Clock::now();
    EXPECT_FALSE(c.try_lock_for(50ms));
    EXPECT_GE(seconds_since(start), 0.045);
    a.unlock();
    EXPECT_TRUE(c.try_lock_for(1s));
  }
  EXPECT_EQ(sem.value(), 2);
}

TEST(Semaphore, StressAtMostKInside) {
  constexpr int kSlots = 3;
  constexpr int kThreads = 8;
  constexpr int kIterations = 4000;
  threading::Semaphore sem(kSlots);
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::atomic<long> done{0};
  std::atomic<int> failures{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      for (int n = 0; n < kIterations; ++n) {
        bool ok = true;
        switch ((n + i) % 3) {
          case 0: ok = sem.acquire(); break;
          case 1: ok = sem.acquire(true, 30s); break;
          default:
            while (!sem.acquire(false)) std::this_thread::yield();
            break;
        }
        if (!ok) {
          failures.fetch_add(1);
          continue;
        }
        int now = inside.fetch_add(1) + 1;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        done.fetch_add(1);
        inside.fetch_sub(1);
        sem.release();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(most.load(), kSlots);
  EXPECT_GE(most.load(), 1);
  EXPECT_EQ(done.load(), static_cast<long>(kThreads) * kIterations);
  EXPECT_EQ(sem.value(), kSlots);
}

TEST(BoundedSemaphore, StressAtMostKInsideWithScopedLock) {
  constexpr int kSlots = 2;
  constexpr int kThreads = 8;
  constexpr int kIterations = 4000;
  threading::BoundedSemaphore sem(kSlots);
  std::atomic<int> inside{0};
  std::atomic<bool> exceeded{false};
  std::atomic<long> done{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int n = 0; n < kIterations; ++n) {
        std::scoped_lock guard(sem);
        if (inside.fetch_add(1) + 1 > kSlots) exceeded = true;
        done.fetch_add(1);
        inside.fetch_sub(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(exceeded.load());
  EXPECT_EQ(done.load(), static_cast<long>(kThreads) * kIterations);
  EXPECT_EQ(sem.value(), kSlots);
  EXPECT_THROW(sem.release(), pyconc::ValueError);
}

TEST(Semaphore, StressTimedAcquiresRacingReleases) {
  // Threads with tiny timeouts keep timing out beside patient ones: a timed-out waiter
  // must not swallow a wake-up, so every patient acquire succeeds and no unit is lost.
  constexpr int kSlots = 2;
  constexpr int kTimed = 4;
  constexpr int kPatient = 4;
  constexpr int kIterations = 1500;
  threading::Semaphore sem(kSlots);
  std::atomic<long> done{0};
  auto critical_section = [&] {
    auto until = Clock::now() + 20us;
    while (Clock::now() < until) {
    }
    done.fetch_add(1);
  };
  int patient_failures = race_timed_and_patient_acquires(sem, kTimed, kPatient, kIterations, critical_section);
  EXPECT_EQ(patient_failures, 0);
  long expected = static_cast<long>(kTimed + kPatient) * kIterations - patient_failures;
  EXPECT_EQ(done.load(), expected);
  EXPECT_EQ(sem.value(), kSlots);
}

TEST(Semaphore, StressPingPong) {
  constexpr int kRounds = 5000;
  threading::Semaphore ping(0), pong(0);
  ping_pong(ping, pong, kRounds);
  EXPECT_EQ(ping.value(), 0);
  EXPECT_EQ(pong.value(), 0);
}
