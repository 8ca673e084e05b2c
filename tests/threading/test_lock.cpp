// Tests for threading::Lock (Python's threading.Lock): a primitive lock owned by nobody.
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <pyconc/errors.hpp>
#include <pyconc/threading.hpp>

#include "support.hpp"
#include "threading/lock_support.hpp"

// These tests deliberately acquire in one thread and release in another, release
// unlocked locks and hand locks across lambdas: clang's static lock analysis cannot
// follow that (it is what the tests are about), so it is switched off for this file.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wthread-safety-analysis"
#endif

namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::acquirable_elsewhere;
using pyconc_test::Clock;
using pyconc_test::asleep_in_futex;
using pyconc_test::eventually;
using pyconc_test::kPrompt;
using pyconc_test::ping_pong;
using pyconc_test::race_timed_and_patient_acquires;
using pyconc_test::seconds_since;

namespace {

}  // namespace

static_assert(!std::is_copy_constructible_v<threading::Lock>);
static_assert(!std::is_move_constructible_v<threading::Lock>);
static_assert(!std::is_copy_assignable_v<threading::Lock>);

TEST(Lock, StartsUnlocked) {
  threading::Lock lock;
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, AcquireAndRelease) {
  threading::Lock lock;
  EXPECT_TRUE(lock.acquire());
  EXPECT_TRUE(lock.locked());
  lock.release();
  EXPECT_FALSE(lock.locked());
  // And again: the lock is reusable.
  EXPECT_TRUE(lock.acquire(true));
  EXPECT_TRUE(lock.locked());
  lock.release();
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, NonBlockingAcquire) {
  threading::Lock lock;
  EXPECT_TRUE(lock.acquire(false));
  EXPECT_TRUE(lock.locked());
  EXPECT_FALSE(lock.acquire(false));  // not reentrant, and does not wait
  EXPECT_TRUE(lock.locked());
  EXPECT_FALSE(acquirable_elsewhere(lock));
  lock.release();
  EXPECT_TRUE(acquirable_elsewhere(lock));
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, NonBlockingAcquireWithDefaultTimeoutIsAllowed) {
  // Python: acquire(blocking=False, timeout=-1) is fine (-1 is the default).
  threading::Lock lock;
  EXPECT_TRUE(lock.acquire(false, -1s));
  EXPECT_FALSE(lock.acquire(false, -1s));
  lock.release();
}

TEST(Lock, TimedAcquireOfHeldLockTimesOut) {
  threading::Lock lock;
  lock.acquire();
  {
    auto start = Clock::now();
    EXPECT_FALSE(lock.acquire(true, 50ms));
    double elapsed = seconds_since(start);
    EXPECT_GE(elapsed, 0.045);
    EXPECT_LT(elapsed, kPrompt);
  }
  {
    auto start = Clock::now();
    EXPECT_FALSE(lock.acquire(0.05s));  // acquire(timeout=0.05)
    double elapsed = seconds_since(start);
    EXPECT_GE(elapsed, 0.045);
    EXPECT_LT(elapsed, kPrompt);
  }
  EXPECT_TRUE(lock.locked());  // a failed acquire leaves the holder's lock alone
  lock.release();
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, ZeroTimeoutDoesNotWait) {
  threading::Lock lock;
  EXPECT_TRUE(lock.acquire(true, 0s));
  auto start = Clock::now();
  EXPECT_FALSE(lock.acquire(true, 0s));
  EXPECT_LT(seconds_since(start), kPrompt);
  lock.release();
}

TEST(Lock, TimedAcquireOfFreeLockSucceedsAtOnce) {
  threading::Lock lock;
  auto start = Clock::now();
  EXPECT_TRUE(lock.acquire(true, 30s));
  EXPECT_LT(seconds_since(start), kPrompt);
  lock.release();
  EXPECT_TRUE(lock.acquire(threading::TIMEOUT_MAX));  // TIMEOUT_MAX itself is accepted
  lock.release();
}

TEST(Lock, MinusOneTimeoutWaitsUntilReleased) {
  threading::Lock lock;
  lock.acquire();
  std::atomic<long> tid{0};
  std::atomic<bool> returned{false};
  bool got = false;
  std::thread t([&] {
    tid = gettid();
    got = lock.acquire(true, -1s);  // Python's timeout=-1: forever
    returned = true;
  });
  bool slept = eventually([&] { return asleep_in_futex(tid, &lock, sizeof lock); });
  bool returned_early = returned.load();
  lock.release();
  t.join();
  EXPECT_TRUE(slept) << "the acquiring thread never blocked on the lock";
  EXPECT_FALSE(returned_early);
  EXPECT_TRUE(got);
  EXPECT_TRUE(lock.locked());  // now held on behalf of the other (finished) thread
  lock.release();              // a Lock is not owned: anybody may release it
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, TimeoutWithNonBlockingIsValueError) {
  threading::Lock lock;
  EXPECT_THROW(lock.acquire(false, 1s), pyconc::ValueError);
  EXPECT_THROW(lock.acquire(false, 0s), pyconc::ValueError);
  EXPECT_FALSE(lock.locked());
  lock.acquire();
  EXPECT_THROW(lock.acquire(false, 1s), pyconc::ValueError);
  EXPECT_TRUE(lock.locked());
  lock.release();
}

TEST(Lock, NegativeTimeoutOtherThanMinusOneIsValueError) {
  threading::Lock lock;
  EXPECT_THROW(lock.acquire(true, -2s), pyconc::ValueError);
  EXPECT_THROW(lock.acquire(-0.5s), pyconc::ValueError);
  EXPECT_THROW(lock.acquire(true, -1.5s), pyconc::ValueError);
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, TimeoutAboveTimeoutMaxIsOverflowError) {
  threading::Lock lock;
  EXPECT_THROW(lock.acquire(true, threading::TIMEOUT_MAX * 2), pyconc::OverflowError);
  EXPECT_THROW(lock.acquire(pyconc::Seconds(1e300)), pyconc::OverflowError);
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, ReleaseOfUnlockedLockIsRuntimeError) {
  threading::Lock lock;
  EXPECT_THROW(lock.release(), pyconc::RuntimeError);
  EXPECT_FALSE(lock.locked());
  lock.acquire();
  lock.release();
  EXPECT_THROW(lock.release(), pyconc::RuntimeError);
  EXPECT_THROW(lock.unlock(), pyconc::RuntimeError);
  // Still fully usable afterwards.
  EXPECT_TRUE(lock.acquire(false));
  lock.release();
}

TEST(Lock, ReleasedByAnotherThread) {
  threading::Lock lock;
  lock.acquire();
  std::thread([&] { lock.release(); }).join();
  EXPECT_FALSE(lock.locked());

  std::thread([&] { lock.acquire(); }).join();
  EXPECT_TRUE(lock.locked());
  lock.release();
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, ScopedLockIsWith) {
  threading::Lock lock;
  {
    std::scoped_lock guard(lock);
    EXPECT_TRUE(lock.locked());
    EXPECT_FALSE(acquirable_elsewhere(lock));
  }
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, ScopedLockOfSeveralLocks) {
  threading::Lock a, b;
  {
    std::scoped_lock guard(a, b);
    EXPECT_TRUE(a.locked());
    EXPECT_TRUE(b.locked());
  }
  EXPECT_FALSE(a.locked());
  EXPECT_FALSE(b.locked());
}

TEST(Lock, UniqueLockTryAndTimed) {
  threading::Lock lock;
  {
    std::unique_lock<threading::Lock> guard(lock, std::try_to_lock);
    EXPECT_TRUE(guard.owns_lock());
    std::unique_lock<threading::Lock> second(lock, std::try_to_lock);
    EXPECT_FALSE(second.owns_lock());

    auto start = Clock::now();
    std::unique_lock<threading::Lock> timed(lock, 50ms);
    double elapsed = seconds_since(start);
    EXPECT_FALSE(timed.owns_lock());
    EXPECT_GE(elapsed, 0.045);
    EXPECT_LT(elapsed, kPrompt);

    guard.unlock();
    EXPECT_FALSE(lock.locked());
    EXPECT_TRUE(timed.try_lock_for(1s));
    EXPECT_TRUE(lock.locked());
  }
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, TryLockForAndUntil) {
  threading::Lock lock;
  EXPECT_TRUE(lock.try_lock());
  EXPECT_FALSE(lock.try_lock());
  {
    auto start = Clock::now();
    EXPECT_FALSE(lock.try_lock_for(std::chrono::milliseconds(50)));
    EXPECT_GE(seconds_since(start), 0.045);
  }
  {
    auto start = Clock::now();
    EXPECT_FALSE(lock.try_lock_until(std::chrono::steady_clock::now() + 50ms));
    EXPECT_GE(seconds_since(start), 0.045);
    EXPECT_LT(seconds_since(start), kPrompt);
  }
  {
    auto start = Clock::now();
    EXPECT_FALSE(lock.try_lock_until(std::chrono::system_clock::now() + 50ms));
    EXPECT_GE(seconds_since(start), 0.040);  // a different clock: a little slack
    EXPECT_LT(seconds_since(start), kPrompt);
  }
  EXPECT_FALSE(lock.try_lock_for(-1s));  // a past deadline: one try, no wait
  EXPECT_FALSE(lock.try_lock_until(std::chrono::steady_clock::now() - 1s));
  lock.unlock();
  EXPECT_TRUE(lock.try_lock_for(0s));
  lock.unlock();
  EXPECT_TRUE(lock.try_lock_until(std::chrono::steady_clock::now() - 1s));  // free: succeeds
  lock.unlock();
}

TEST(Lock, BlockedTimedAcquireIsWokenByRelease) {
  threading::Lock lock;
  lock.acquire();
  std::atomic<long> tid{0};
  std::atomic<bool> returned{false};
  bool got = false;
  double waited = 0;
  std::thread t([&] {
    tid = gettid();
    auto start = Clock::now();
    got = lock.acquire(true, 30s);
    waited = seconds_since(start);
    returned = true;
  });
  bool slept = eventually([&] { return asleep_in_futex(tid, &lock, sizeof lock); });
  bool returned_early = returned.load();
  auto released_at = Clock::now();
  lock.release();
  t.join();
  EXPECT_TRUE(slept) << "the acquiring thread never blocked on the lock";
  EXPECT_FALSE(returned_early);
  EXPECT_TRUE(got);
  EXPECT_LT(waited, 30.0 - 1.0);
  EXPECT_LT(seconds_since(released_at), kPrompt);
  EXPECT_TRUE(lock.locked());
  lock.release();
}

TEST(Lock, EverySleeperIsWokenInTurn) {
  // Several threads asleep on one lock; each release must hand it on, so that all of
  // them get it in turn (no lost wake-up with several sleepers).
  constexpr int kThreads = 6;
  threading::Lock lock;
  lock.acquire();
  std::atomic<long> tids[kThreads] = {};
  std::atomic<int> got{0};
  int inside = 0;  // guarded by lock
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      tids[i] = gettid();
      if (lock.acquire(true, 30s)) {
        ++inside;
        got.fetch_add(1);
        lock.release();
      }
    });
  }
  bool all_slept = eventually([&] {
    for (auto& tid : tids)
      if (!asleep_in_futex(tid, &lock, sizeof lock)) return false;
    return true;
  });
  lock.release();
  for (auto& t : threads) t.join();
  EXPECT_TRUE(all_slept);
  EXPECT_EQ(got.load(), kThreads);
  EXPECT_EQ(inside, kThreads);
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, StressMutualExclusion) {
  constexpr int kThreads = 8;
  constexpr int kIterations = 20000;
  threading::Lock lock;
  long counter = 0;  // plain: ThreadSanitizer checks that the lock orders the accesses
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      for (int n = 0; n < kIterations; ++n) {
        switch ((n + i) % 4) {
          case 0: {
            lock.acquire();
            ++counter;
            lock.release();
            break;
          }
          case 1: {
            std::scoped_lock guard(lock);
            ++counter;
            break;
          }
          case 2: {
            while (!lock.acquire(false)) std::this_thread::yield();
            ++counter;
            lock.release();
            break;
          }
          default: {
            ASSERT_TRUE(lock.acquire(true, 30s));
            ++counter;
            lock.release();
            break;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, static_cast<long>(kThreads) * kIterations);
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, StressTimedAcquiresRacingReleases) {
  // Threads with tiny timeouts keep timing out while others wait without (practically)
  // a limit: a timed-out waiter must never swallow the wake-up meant for another one,
  // so every long wait succeeds and every increment happens.
  constexpr int kTimed = 4;
  constexpr int kPatient = 4;
  constexpr int kIterations = 2000;
  threading::Lock lock;
  long counter = 0;
  // Holds the lock a little while, so that waiters really queue up and time out.
  auto critical_section = [&] {
    auto until = Clock::now() + 20us;
    while (Clock::now() < until) {
    }
    ++counter;
  };
  int patient_failures = race_timed_and_patient_acquires(lock, kTimed, kPatient, kIterations, critical_section);
  EXPECT_EQ(patient_failures, 0);
  EXPECT_EQ(counter, static_cast<long>(kTimed + kPatient) * kIterations - patient_failures);
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, StressPingPongReleasedByTheOtherThread) {
  // Two Locks used as binary signals (Python's classic hand-off): each is acquired by one
  // thread and released by the other, so every wake-up crosses threads.
  constexpr int kRounds = 5000;
  threading::Lock ping, pong;
  ping.acquire();
  pong.acquire();
  ping_pong(ping, pong, kRounds);
  EXPECT_TRUE(ping.locked());  // the other thread's last acquire
  EXPECT_TRUE(pong.locked());  // ours
  ping.release();
  pong.release();
}
