// Tests for threading::RLock (Python's threading.RLock): reentrant, owned by a thread.
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

// These tests deliberately release from the wrong thread, release too often and acquire
// in one lambda what another releases: clang's static lock analysis cannot follow that,
// so it is switched off for this file.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wthread-safety-analysis"
#endif

namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::acquirable_elsewhere;
using pyconc_test::Clock;
using pyconc_test::asleep_in_futex;
using pyconc_test::eventually;
using pyconc_test::expect_times_out_after_50ms;
using pyconc_test::kPrompt;
using pyconc_test::message_of;
using pyconc_test::race_timed_and_patient_acquires;
using pyconc_test::seconds_since;

namespace {

/// A thread that takes `lock` and holds it until told to let go.
class Holder {
 public:
  explicit Holder(threading::RLock& lock)
      : thread_([this, &lock] {
          lock.acquire();
          holding_ = true;
          while (!let_go_) std::this_thread::yield();
          lock.release();
        }) {
    while (!holding_) std::this_thread::yield();
  }
  ~Holder() {
    let_go_ = true;
    thread_.join();
  }
  Holder(const Holder&) = delete;
  Holder& operator=(const Holder&) = delete;

 private:
  std::atomic<bool> holding_{false};
  std::atomic<bool> let_go_{false};
  std::thread thread_;
};

}  // namespace

static_assert(!std::is_copy_constructible_v<threading::RLock>);
static_assert(!std::is_move_constructible_v<threading::RLock>);

TEST(RLock, StartsUnlocked) {
  threading::RLock lock;
  EXPECT_FALSE(lock.locked());
  EXPECT_TRUE(acquirable_elsewhere(lock));
}

TEST(RLock, OwnerAcquiresRecursively) {
  threading::RLock lock;
  EXPECT_TRUE(lock.acquire());
  EXPECT_TRUE(lock.acquire(false));       // the owner never blocks on its own lock
  EXPECT_TRUE(lock.acquire(true, 1s));
  EXPECT_TRUE(lock.acquire(true, 0s));
  EXPECT_TRUE(lock.acquire(true, -1s));
  EXPECT_TRUE(lock.acquire(0.5s));
  EXPECT_TRUE(lock.try_lock());
  constexpr int kLevels = 7;
  for (int level = kLevels; level > 1; --level) {
    lock.release();
    EXPECT_TRUE(lock.locked()) << "level " << level;
    EXPECT_FALSE(acquirable_elsewhere(lock)) << "level " << level;
  }
  lock.release();
  EXPECT_FALSE(lock.locked());
  EXPECT_TRUE(acquirable_elsewhere(lock));
  EXPECT_EQ(message_of<pyconc::RuntimeError>([&] { lock.release(); }), "cannot release un-acquired lock");
}

TEST(RLock, DeepRecursion) {
  constexpr int kLevels = 10000;
  threading::RLock lock;
  for (int i = 0; i < kLevels; ++i) ASSERT_TRUE(lock.acquire(false));
  for (int i = 0; i < kLevels - 1; ++i) lock.release();
  EXPECT_TRUE(lock.locked());
  EXPECT_FALSE(acquirable_elsewhere(lock));
  lock.release();
  EXPECT_FALSE(lock.locked());
  EXPECT_THROW(lock.release(), pyconc::RuntimeError);
}

TEST(RLock, ReleaseOfUnacquiredLockIsRuntimeError) {
  threading::RLock lock;
  EXPECT_EQ(message_of<pyconc::RuntimeError>([&] { lock.release(); }), "cannot release un-acquired lock");
  EXPECT_THROW(lock.unlock(), pyconc::RuntimeError);
  EXPECT_FALSE(lock.locked());
  EXPECT_TRUE(lock.acquire(false));  // still usable
  lock.release();
}

TEST(RLock, ReleaseByNonOwnerIsRuntimeError) {
  threading::RLock lock;
  lock.acquire();
  lock.acquire();
  std::string message;
  std::thread([&] { message = message_of<pyconc::RuntimeError>([&] { lock.release(); }); }).join();
  EXPECT_EQ(message, "cannot release un-acquired lock");
  // Nothing changed: still held at two levels by this thread.
  EXPECT_TRUE(lock.locked());
  lock.release();
  EXPECT_TRUE(lock.locked());
  EXPECT_FALSE(acquirable_elsewhere(lock));
  lock.release();
  EXPECT_FALSE(lock.locked());
}

TEST(RLock, ReleaseWhileAnotherThreadOwnsIsRuntimeError) {
  threading::RLock lock;
  lock.acquire();  // ownership passes on once released
  lock.release();
  {
    Holder holder(lock);
    EXPECT_TRUE(lock.locked());
    EXPECT_EQ(message_of<pyconc::RuntimeError>([&] { lock.release(); }), "cannot release un-acquired lock");
    EXPECT_FALSE(lock.acquire(false));
    EXPECT_TRUE(lock.locked());
  }
  EXPECT_FALSE(lock.locked());
  EXPECT_TRUE(lock.acquire(false));
  lock.release();
}

TEST(RLock, OtherThreadWaitsUntilEveryLevelIsReleased) {
  constexpr int kLevels = 3;
  threading::RLock lock;
  for (int i = 0; i < kLevels; ++i) lock.acquire();
  std::atomic<long> tid{0};
  std::atomic<bool> returned{false};
  bool got = false;
  std::thread t([&] {
    tid = gettid();
    got = lock.acquire(true, 30s);
    returned = true;
    if (got) lock.release();
  });
  bool slept = eventually([&] { return asleep_in_futex(tid, &lock, sizeof lock); });
  std::vector<bool> returned_after_partial_release;
  for (int i = 0; i < kLevels - 1; ++i) {
    lock.release();
    returned_after_partial_release.push_back(returned.load());
  }
  bool still_asleep = asleep_in_futex(tid, &lock, sizeof lock);
  lock.release();  // the last level: now the other thread gets it
  t.join();
  EXPECT_TRUE(slept) << "the other thread never blocked on the lock";
  EXPECT_TRUE(still_asleep) << "a partial release woke the other thread";
  for (bool r : returned_after_partial_release) EXPECT_FALSE(r);
  EXPECT_TRUE(got);
  EXPECT_FALSE(lock.locked());
}

TEST(RLock, TimedAcquireByNonOwnerTimesOut) {
  threading::RLock lock;
  Holder holder(lock);
  expect_times_out_after_50ms([&] { return lock.acquire(true, 50ms); });
  expect_times_out_after_50ms([&] { return lock.acquire(0.05s); });
  expect_times_out_after_50ms([&] { return lock.try_lock_for(50ms); });
  auto start = Clock::now();
  EXPECT_FALSE(lock.acquire(false));
  EXPECT_FALSE(lock.acquire(true, 0s));
  EXPECT_FALSE(lock.try_lock());
  EXPECT_FALSE(lock.try_lock_until(std::chrono::steady_clock::now() - 1s));
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_TRUE(lock.locked());
}

TEST(RLock, MinusOneTimeoutWaitsUntilReleased) {
  threading::RLock lock;
  lock.acquire();
  std::atomic<long> tid{0};
  std::atomic<bool> returned{false};
  bool got = false;
  std::thread t([&] {
    tid = gettid();
    got = lock.acquire(true, -1s);
    returned = true;
    if (got) lock.release();
  });
  bool slept = eventually([&] { return asleep_in_futex(tid, &lock, sizeof lock); });
  bool returned_early = returned.load();
  lock.release();
  t.join();
  EXPECT_TRUE(slept);
  EXPECT_FALSE(returned_early);
  EXPECT_TRUE(got);
  EXPECT_FALSE(lock.locked());
}

TEST(RLock, ArgumentErrors) {
  threading::RLock lock;
  EXPECT_THROW(lock.acquire(false, 1s), pyconc::ValueError);
  EXPECT_THROW(lock.acquire(false, 0s), pyconc::ValueError);
  EXPECT_THROW(lock.acquire(true, -2s), pyconc::ValueError);
  EXPECT_THROW(lock.acquire(-0.5s), pyconc::ValueError);
  EXPECT_THROW(lock.acquire(true, threading::TIMEOUT_MAX * 2), pyconc::OverflowError);
  EXPECT_FALSE(lock.locked());

  // The owner gets the same errors, and its recursion level does not change.
  lock.acquire();
  EXPECT_THROW(lock.acquire(false, 1s), pyconc::ValueError);
  EXPECT_THROW(lock.acquire(true, -2s), pyconc::ValueError);
  EXPECT_THROW(lock.acquire(true, threading::TIMEOUT_MAX * 2), pyconc::OverflowError);
  EXPECT_TRUE(lock.acquire(false, -1s));  // -1 is the default: allowed
  lock.release();
  EXPECT_TRUE(lock.locked());
  lock.release();
  EXPECT_FALSE(lock.locked());
  EXPECT_THROW(lock.release(), pyconc::RuntimeError);
}

TEST(RLock, LockedSeesAnyHolder) {
  threading::RLock lock;
  EXPECT_FALSE(lock.locked());
  {
    Holder holder(lock);
    EXPECT_TRUE(lock.locked());
  }
  EXPECT_FALSE(lock.locked());
}

TEST(RLock, ScopedLockNests) {
  threading::RLock lock;
  {
    std::scoped_lock outer(lock);
    {
      std::scoped_lock inner(lock);
      EXPECT_TRUE(lock.locked());
    }
    EXPECT_TRUE(lock.locked());
    EXPECT_FALSE(acquirable_elsewhere(lock));
  }
  EXPECT_FALSE(lock.locked());
  EXPECT_TRUE(acquirable_elsewhere(lock));
}

TEST(RLock, UniqueLockFromAnotherThread) {
  threading::RLock lock;
  std::scoped_lock held(lock);
  bool owns_try = true, owns_timed = true;
  double elapsed = 0;
  std::thread([&] {
    std::unique_lock<threading::RLock> attempt(lock, std::try_to_lock);
    owns_try = attempt.owns_lock();
    auto start = Clock::now();
    std::unique_lock<threading::RLock> timed(lock, 50ms);
    elapsed = seconds_since(start);
    owns_timed = timed.owns_lock();
  }).join();
  EXPECT_FALSE(owns_try);
  EXPECT_FALSE(owns_timed);
  EXPECT_GE(elapsed, 0.045);
  EXPECT_LT(elapsed, kPrompt);
  // The owner itself gets it at once, any number of times.
  std::unique_lock<threading::RLock> mine(lock, std::try_to_lock);
  EXPECT_TRUE(mine.owns_lock());
  EXPECT_TRUE(lock.try_lock_for(10s));
  lock.unlock();
}

TEST(RLock, BlockedTimedAcquireIsWokenByFinalRelease) {
  threading::RLock lock;
  lock.acquire();
  std::atomic<long> tid{0};
  bool got = false;
  double waited = 0;
  std::thread t([&] {
    tid = gettid();
    auto start = Clock::now();
    got = lock.acquire(true, 30s);
    waited = seconds_since(start);
    if (got) lock.release();
  });
  bool slept = eventually([&] { return asleep_in_futex(tid, &lock, sizeof lock); });
  lock.release();
  t.join();
  EXPECT_TRUE(slept);
  EXPECT_TRUE(got);
  EXPECT_LT(waited, 30.0 - 1.0);
}

TEST(RLock, StressMutualExclusionWithNesting) {
  constexpr int kThreads = 8;
  constexpr int kIterations = 5000;
  threading::RLock lock;
  long counter = 0;  // plain: ThreadSanitizer checks the ordering
  int depth = 0;     // recursion depth as seen inside; must start at 0 for a new owner
  std::atomic<int> errors{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      for (int n = 0; n < kIterations; ++n) {
        int levels = 1 + (n + i) % 3;
        bool ok = (n % 2 == 0) ? lock.acquire() : lock.acquire(true, 30s);
        if (!ok) {
          errors.fetch_add(1);
          continue;
        }
        if (depth != 0) errors.fetch_add(1);
        ++depth;
        for (int l = 1; l < levels; ++l) {
          if (!lock.acquire(false)) errors.fetch_add(1);  // reentrant: never fails
          ++depth;
        }
        ++counter;
        for (int l = 1; l < levels; ++l) {
          --depth;
          lock.release();
        }
        --depth;
        lock.release();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(counter, static_cast<long>(kThreads) * kIterations);
  EXPECT_FALSE(lock.locked());
}

TEST(RLock, StressTimedAcquiresRacingReleases) {
  constexpr int kTimed = 3;
  constexpr int kPatient = 3;
  constexpr int kIterations = 1500;
  threading::RLock lock;
  long counter = 0;
  auto critical_section = [&] {
    lock.acquire();  // one more level, to exercise the owner's path under contention
    auto until = Clock::now() + 20us;
    while (Clock::now() < until) {
    }
    ++counter;
    lock.release();
  };
  int patient_failures = race_timed_and_patient_acquires(lock, kTimed, kPatient, kIterations, critical_section);
  EXPECT_EQ(patient_failures, 0);
  EXPECT_EQ(counter, static_cast<long>(kTimed + kPatient) * kIterations - patient_failures);
  EXPECT_FALSE(lock.locked());
}
