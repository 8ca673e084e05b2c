// multiprocessing's Lock, RLock, Semaphore, BoundedSemaphore and Event: every call, in
// one process (threads) and across processes (fork), including holders killed while
// holding a lock.
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/event.hpp"
#include "pyconc/multiprocessing/lock.hpp"
#include "pyconc/multiprocessing/rlock.hpp"
#include "pyconc/multiprocessing/semaphore.hpp"
#include "pyconc/multiprocessing/sharedctypes.hpp"
#include "pyconc/pickle.hpp"
#include "test_sync_support.hpp"

// These tests acquire in one process or thread and release in another, and hand locks
// across lambdas: clang's static lock analysis cannot follow that (it is what the tests
// are about), so it is switched off for this file.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wthread-safety-analysis"
#endif

using namespace std::chrono_literals;
namespace mp = pyconc::multiprocessing;
using pyconc_test::fork_child;
using sync_test::join;
using sync_test::roundtrip;

namespace {

double since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// ---- Lock ----

TEST(MpLock, AcquireReleaseAndLocked) {
  mp::Lock lock;
  EXPECT_FALSE(lock.locked());
  EXPECT_TRUE(lock.acquire());
  EXPECT_TRUE(lock.locked());
  EXPECT_FALSE(lock.acquire(false));
  EXPECT_FALSE(lock.try_lock());
  lock.release();
  EXPECT_FALSE(lock.locked());
  EXPECT_TRUE(lock.try_lock());
  lock.unlock();
  { std::scoped_lock with(lock); EXPECT_TRUE(lock.locked()); }
  EXPECT_FALSE(lock.locked());
}

TEST(MpLock, ReleaseOfAnUnlockedLockIsValueError) {
  mp::Lock lock;
  EXPECT_THROW(lock.release(), pyconc::ValueError);
  lock.acquire();
  lock.release();
  EXPECT_THROW(lock.release(), pyconc::ValueError);
}

TEST(MpLock, TimeoutRulesFollowMultiprocessing) {
  mp::Lock lock;
  lock.acquire();
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(lock.acquire(true, -5s));   // negative: 0, no ValueError
  EXPECT_FALSE(lock.acquire(false, 10s));  // block=false ignores the timeout
  EXPECT_LT(since(start), 5.0);
  start = std::chrono::steady_clock::now();
  EXPECT_FALSE(lock.acquire(0.1s));
  EXPECT_GE(since(start), 0.09);
  EXPECT_FALSE(lock.try_lock_for(10ms));
  lock.release();
  EXPECT_TRUE(lock.acquire(true, -1s));
  lock.release();
}

TEST(MpLock, TryLockUntilTakesAnyClock) {
  mp::Lock lock;
  mp::Semaphore empty(0);
  lock.acquire();
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(lock.try_lock_until(start + 50ms));
  EXPECT_GE(since(start), 0.04);
  EXPECT_FALSE(lock.try_lock_until(std::chrono::system_clock::now() + 10ms));
  EXPECT_FALSE(lock.try_lock_until(start - 1s));  // in the past: one try
  EXPECT_FALSE(empty.try_lock_until(std::chrono::steady_clock::now() + 10ms));
  lock.release();
  EXPECT_TRUE(lock.try_lock_until(std::chrono::steady_clock::now() + 1s));
  lock.release();
  empty.release();
  EXPECT_TRUE(empty.try_lock_until(std::chrono::system_clock::now() + 1s));
}

TEST(MpLock, AnyThreadMayRelease) {
  mp::Lock lock;
  lock.acquire();
  std::thread([&] { lock.release(); }).join();
  EXPECT_FALSE(lock.locked());
}

TEST(MpLock, AWaitingThreadIsWokenByRelease) {
  mp::Lock lock;
  lock.acquire();
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    got = lock.acquire(true, 30s);
    lock.release();
  });
  ASSERT_TRUE(pyconc_test::eventually([&] { return (lock.locked()); }));
  lock.release();
  waiter.join();
  EXPECT_TRUE(got.load());
}

TEST(MpLock, ExcludesAcrossProcesses) {
  mp::Lock lock;
  mp::RawValue<long> counter(0);
  constexpr int kRounds = 20000;
  auto work = [&] {
    for (int i = 0; i < kRounds; ++i) {
      std::scoped_lock with(lock);
      counter.set_value(counter.value() + 1);
    }
    return 0;
  };
  pid_t child = fork_child(work);
  work();
  EXPECT_EQ(join(child), 0);
  EXPECT_EQ(counter.value(), 2L * kRounds);
  EXPECT_FALSE(lock.locked());
}

TEST(MpLock, AChildMayReleaseTheParentsLock) {
  mp::Lock lock;
  lock.acquire();
  pid_t child = fork_child([&] {
    lock.release();
    return 0;
  });
  EXPECT_EQ(join(child), 0);
  EXPECT_FALSE(lock.locked());
  EXPECT_TRUE(lock.acquire(false));
  lock.release();
}

TEST(MpLock, AHolderKilledWithTheLockGivesOwnerDiedErrorThenTheLockWorks) {
  mp::Lock lock;
  mp::Event held;
  pid_t child = fork_child([&] {
    lock.acquire();
    held.set();
    for (;;) ::pause();
    return 0;
  });
  ASSERT_TRUE(held.wait(30s));
  ::kill(child, SIGKILL);  // not reaped yet: a zombie counts as dead
  EXPECT_THROW(lock.acquire(true, 30s), mp::OwnerDiedError);
  EXPECT_FALSE(lock.locked());  // reset: the waiter holds nothing
  EXPECT_TRUE(lock.acquire(true, 5s));
  lock.release();
  EXPECT_EQ(join(child), 128 + SIGKILL);
}

TEST(MpLock, ASleepingWaiterNoticesTheHoldersDeath) {
  mp::Lock lock;
  mp::Event held;
  pid_t child = fork_child([&] {
    lock.acquire();
    held.set();
    for (;;) ::pause();
    return 0;
  });
  ASSERT_TRUE(held.wait(30s));
  std::atomic<int> outcome{0};
  std::thread waiter([&] {
    try {
      lock.acquire();
      outcome = 1;
      lock.release();
    } catch (const mp::OwnerDiedError&) {
      outcome = 2;
    }
  });
  ::kill(child, SIGKILL);
  EXPECT_EQ(join(child), 128 + SIGKILL);  // reaped: gone entirely
  waiter.join();
  EXPECT_EQ(outcome.load(), 2);
  EXPECT_TRUE(lock.acquire(false));
  lock.release();
}

TEST(MpLock, NonBlockingAcquireRecoversFromADeadHolder) {
  mp::Lock lock;
  pid_t child = fork_child([&] {
    lock.acquire();
    ::raise(SIGKILL);
    return 0;
  });
  EXPECT_EQ(join(child), 128 + SIGKILL);
  EXPECT_TRUE(lock.locked());
  EXPECT_THROW(lock.acquire(false), mp::OwnerDiedError);
  EXPECT_TRUE(lock.acquire(false));
  lock.release();
}

TEST(MpLock, APickledHandleIsTheSameLock) {
  mp::Lock lock;
  mp::Lock copy = roundtrip(lock);
  EXPECT_TRUE(copy == lock);
  lock.acquire();
  EXPECT_TRUE(copy.locked());
  EXPECT_FALSE(copy.acquire(false));
  copy.release();
  EXPECT_FALSE(lock.locked());
}

TEST(MpLock, LoadingAHandleOfAnotherTypeIsValueError) {
  mp::Event event;
  auto bytes = pyconc::pickle::dumps(event);
  EXPECT_THROW(pyconc::pickle::loads<mp::Lock>(bytes), pyconc::ValueError);
}

// ---- RLock ----

TEST(MpRLock, IsReentrantAndOwned) {
  mp::RLock rlock;
  EXPECT_TRUE(rlock.acquire());
  EXPECT_TRUE(rlock.acquire(false));
  EXPECT_TRUE(rlock.acquire(true, 1s));
  EXPECT_TRUE(rlock.locked());
  std::atomic<int> other{-1};
  std::thread([&] {
    other = rlock.acquire(false);
    try {
      rlock.release();
      other = 10;
    } catch (const pyconc::RuntimeError&) {
      other = other + 20;
    }
  }).join();
  EXPECT_EQ(other.load(), 20);  // could not acquire; release raised RuntimeError
  rlock.release();
  rlock.release();
  EXPECT_TRUE(rlock.locked());
  rlock.release();
  EXPECT_FALSE(rlock.locked());
  EXPECT_THROW(rlock.release(), pyconc::RuntimeError);
}

TEST(MpRLock, AnotherProcessCannotTakeOrReleaseIt) {
  mp::RLock rlock;
  rlock.acquire();
  pid_t child = fork_child([&] {
    if (rlock.acquire(true, 0.05s)) return 1;
    try {
      rlock.release();
      return 2;
    } catch (const pyconc::RuntimeError&) {
    }
    return 0;
  });
  EXPECT_EQ(join(child), 0);
  rlock.release();
  child = fork_child([&] {
    if (!rlock.acquire(true, 10s)) return 1;
    rlock.acquire();
    rlock.release();
    rlock.release();
    return 0;
  });
  EXPECT_EQ(join(child), 0);
  EXPECT_FALSE(rlock.locked());
}

TEST(MpRLock, AThreadWaitsForTheOwnerAndTimesOut) {
  mp::RLock rlock;
  rlock.acquire();
  std::atomic<int> r{-1};
  std::thread([&] { r = rlock.acquire(-1s); }).join();  // negative: 0
  EXPECT_EQ(r.load(), 0);
  std::thread waiter([&] {
    r = rlock.acquire(30s);
    rlock.release();
  });
  rlock.release();
  waiter.join();
  EXPECT_EQ(r.load(), 1);
}

TEST(MpRLock, AHolderKilledWithTheLockGivesOwnerDiedErrorThenTheLockWorks) {
  mp::RLock rlock;
  mp::Event held;
  pid_t child = fork_child([&] {
    rlock.acquire();
    rlock.acquire();
    held.set();
    for (;;) ::pause();
    return 0;
  });
  ASSERT_TRUE(held.wait(30s));
  ::kill(child, SIGKILL);
  EXPECT_THROW(rlock.acquire(), mp::OwnerDiedError);
  EXPECT_FALSE(rlock.locked());
  EXPECT_THROW(rlock.release(), pyconc::RuntimeError);  // the waiter holds nothing
  EXPECT_TRUE(rlock.acquire(true, 5s));
  rlock.release();
  EXPECT_FALSE(rlock.locked());
  EXPECT_EQ(join(child), 128 + SIGKILL);
}

TEST(MpRLock, APickledHandleIsTheSameLock) {
  mp::RLock rlock;
  mp::RLock copy = roundtrip(rlock);
  rlock.acquire();
  EXPECT_TRUE(copy.acquire(false));  // same thread, same lock: reentrant
  copy.release();
  rlock.release();
  EXPECT_FALSE(copy.locked());
}

// ---- Semaphore ----

TEST(MpSemaphore, CountsAndGetValue) {
  mp::Semaphore sem(2);
  EXPECT_EQ(sem.get_value(), 2);
  EXPECT_TRUE(sem.acquire());
  EXPECT_TRUE(sem.acquire(false));
  EXPECT_EQ(sem.get_value(), 0);
  EXPECT_FALSE(sem.acquire(false));
  EXPECT_FALSE(sem.acquire(true, -1s));
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(sem.acquire(0.1s));
  EXPECT_GE(since(start), 0.09);
  sem.release();
  sem.release();
  sem.release();  // unbounded: above the initial value is fine
  EXPECT_EQ(sem.get_value(), 3);
  { std::scoped_lock with(sem); EXPECT_EQ(sem.get_value(), 2); }
  EXPECT_EQ(sem.get_value(), 3);
}

TEST(MpSemaphore, BadValues) {
  EXPECT_THROW(mp::Semaphore(-1), pyconc::ValueError);
  EXPECT_THROW(mp::BoundedSemaphore(-1), pyconc::ValueError);
  EXPECT_EQ(pyconc_test::message_of<pyconc::ValueError>([] { mp::Semaphore s(-5); }),
            "semaphore initial value must be >= 0");
  EXPECT_THROW(mp::Semaphore(mp::Semaphore::kSemValueMax + 1), pyconc::OverflowError);
  mp::Semaphore full(mp::Semaphore::kSemValueMax);
  EXPECT_THROW(full.release(), pyconc::OverflowError);
  mp::Semaphore zero(0);
  EXPECT_FALSE(zero.acquire(false));
}

TEST(MpSemaphore, BoundedRefusesOverRelease) {
  mp::BoundedSemaphore sem(2);
  EXPECT_THROW(sem.release(), pyconc::ValueError);
  sem.acquire();
  sem.release();
  EXPECT_THROW(sem.release(), pyconc::ValueError);
  EXPECT_EQ(sem.get_value(), 2);
}

TEST(MpSemaphore, ReleaseWakesAWaitingThread) {
  mp::Semaphore sem(0);
  std::atomic<int> got{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i)
    waiters.emplace_back([&] {
      if (sem.acquire(true, 30s)) ++got;
    });
  for (int i = 0; i < 3; ++i) sem.release();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(got.load(), 3);
  EXPECT_EQ(sem.get_value(), 0);
}

TEST(MpSemaphore, AcrossProcesses) {
  mp::Semaphore sem(0);
  mp::BoundedSemaphore bounded(1);
  bounded.acquire();
  pid_t child = fork_child([&] {
    for (int i = 0; i < 5; ++i) sem.release();
    bounded.release();  // the parent's unit, released by the child
    try {
      bounded.release();
      return 1;
    } catch (const pyconc::ValueError&) {
    }
    return 0;
  });
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(sem.acquire(true, 30s));
  EXPECT_EQ(join(child), 0);
  EXPECT_TRUE(bounded.acquire(false));
  EXPECT_EQ(sem.get_value(), 0);
  // A child blocked in acquire is woken by the parent's release.
  child = fork_child([&] { return sem.acquire(true, 30s) ? 0 : 1; });
  sem.release();
  EXPECT_EQ(join(child), 0);
  EXPECT_EQ(sem.get_value(), 0);
}

TEST(MpSemaphore, APickledHandleIsTheSameSemaphore) {
  mp::BoundedSemaphore sem(3);
  mp::BoundedSemaphore copy = roundtrip(sem);
  sem.acquire();
  EXPECT_EQ(copy.get_value(), 2);
  copy.release();
  EXPECT_THROW(sem.release(), pyconc::ValueError);
}

// ---- Event ----

TEST(MpEvent, SetClearWait) {
  mp::Event e;
  EXPECT_FALSE(e.is_set());
  EXPECT_FALSE(e.wait(0s));
  EXPECT_FALSE(e.wait(-1s));
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(e.wait(0.1s));
  EXPECT_GE(since(start), 0.09);
  e.set();
  EXPECT_TRUE(e.is_set());
  EXPECT_TRUE(e.wait());
  EXPECT_TRUE(e.wait(0s));
  e.set();
  e.clear();
  EXPECT_FALSE(e.is_set());
}

TEST(MpEvent, SetWakesEveryWaitingThread) {
  mp::Event e;
  std::atomic<int> woken{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i)
    waiters.emplace_back([&] {
      if (e.wait(30s)) ++woken;
    });
  e.set();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(woken.load(), 3);
}

TEST(MpEvent, SetFromAChildWakesTheParent) {
  mp::Event go, done;
  pid_t child = fork_child([&] {
    if (!go.wait(30s)) return 1;
    done.set();
    return 0;
  });
  go.set();
  EXPECT_TRUE(done.wait(30s));
  EXPECT_EQ(join(child), 0);
}

TEST(MpEvent, AWaitReturnsTrueWhenSetAndClearedMeanwhile) {
  mp::Event e;
  pid_t child = fork_child([&] { return e.wait(30s) ? 0 : 1; });
  ASSERT_TRUE(pyconc_test::eventually([&] { return sync_test::child_asleep_in_futex(child); }, 30s));
  e.set();
  e.clear();
  EXPECT_EQ(join(child), 0);
}

TEST(MpEvent, APickledHandleIsTheSameEvent) {
  mp::Event e;
  mp::Event copy = roundtrip(e);
  e.set();
  EXPECT_TRUE(copy.is_set());
  copy.clear();
  EXPECT_FALSE(e.is_set());
}

}  // namespace
