// multiprocessing's Condition and Barrier: every call, in one process (threads) and
// across processes (fork), including parties and lock holders killed mid-way.
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/barrier.hpp"
#include "pyconc/multiprocessing/condition.hpp"
#include "pyconc/multiprocessing/event.hpp"
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

// ---- Condition ----

// After a waiter took the lock and set its flag, a free lock means it is in wait().
bool lock_is_free(mp::Condition& cv) {
  if (!cv.acquire(false)) return false;
  cv.release();
  return true;
}

TEST(MpCondition, WaitAndNotifyNeedTheLock) {
  mp::Condition cv;
  EXPECT_THROW(cv.wait(0s), pyconc::RuntimeError);
  EXPECT_THROW(cv.notify(), pyconc::RuntimeError);
  EXPECT_THROW(cv.notify_all(), pyconc::RuntimeError);
  std::scoped_lock with(cv);
  cv.notify();  // nobody waits: nothing happens
  cv.notify_all();
  EXPECT_TRUE(cv.get_lock().is_rlock());
}

TEST(MpCondition, WaitTimesOutHoldingTheLockAgain) {
  mp::Condition cv;
  std::scoped_lock with(cv);
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(cv.wait(0.1s));
  EXPECT_GE(pyconc_test::seconds_since(start), 0.09);
  EXPECT_FALSE(cv.wait(-1s));
  EXPECT_FALSE(cv.wait_for([] { return false; }, 0.05s));
  EXPECT_TRUE(cv.wait_for([] { return true; }));
  cv.notify();  // still held: no RuntimeError
}

TEST(MpCondition, AnRLockHeldSeveralTimesIsFullyReleasedByWait) {
  mp::RLock rlock;
  mp::Condition cv(rlock);
  rlock.acquire();
  rlock.acquire();
  mp::RawValue<int> flag(0);
  std::thread other([&] {
    std::scoped_lock with(cv);  // possible only if wait released both levels
    flag.set_value(1);
    cv.notify();
  });
  EXPECT_TRUE(cv.wait_for([&] { return flag.value() == 1; }, 30s));
  other.join();
  rlock.release();
  rlock.release();
  EXPECT_FALSE(rlock.locked());
}

TEST(MpCondition, NotifyNWakesExactlyNWaitersOldestFirst) {
  mp::Condition cv(mp::Lock{});
  mp::RawValue<int> woken(0);
  std::vector<std::thread> waiters;
  std::vector<long> tids(3, 0);
  std::vector<int> order;
  std::mutex order_mutex;
  for (int i = 0; i < 3; ++i) {
    // One at a time, so that the arrival order is known.
    std::atomic<bool> waiting{false};
    waiters.emplace_back([&, i] {
      std::scoped_lock with(cv);
      waiting = true;
      EXPECT_TRUE(cv.wait(30s));
      woken.set_value(woken.value() + 1);
      std::scoped_lock o(order_mutex);
      order.push_back(i);
    });
    ASSERT_TRUE(pyconc_test::eventually([&] { return waiting && lock_is_free(cv); }));
  }
  {
    std::scoped_lock with(cv);
    cv.notify(0);
    cv.notify(-1);  // Python: a negative n wakes nobody (never "all")
    cv.notify(2);
  }
  ASSERT_TRUE(pyconc_test::eventually([&] {
    std::scoped_lock with(cv);
    return woken.value() == 2;
  }));
  {
    std::scoped_lock with(cv);
    EXPECT_EQ(woken.value(), 2);  // the third still waits
    cv.notify_all();
  }
  for (auto& t : waiters) t.join();
  EXPECT_EQ(woken.value(), 3);
  // The two oldest were notified (they may re-take the lock in either order).
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(std::set<int>(order.begin(), order.begin() + 2), (std::set<int>{0, 1}));
  EXPECT_EQ(order[2], 2);
}

TEST(MpCondition, NotifyAcrossProcesses) {
  mp::Condition cv;
  mp::RawValue<int> stage(0);
  pid_t child = fork_child([&] {
    std::scoped_lock with(cv);
    if (!cv.wait_for([&] { return stage.value() == 1; }, 30s)) return 1;
    stage.set_value(2);
    cv.notify_all();
    return 0;
  });
  {
    std::scoped_lock with(cv);
    stage.set_value(1);
    cv.notify();
    EXPECT_TRUE(cv.wait_for([&] { return stage.value() == 2; }, 30s));
  }
  EXPECT_EQ(join(child), 0);
}

TEST(MpCondition, ManyProcessesWaitAndAllAreNotified) {
  mp::Condition cv(mp::Lock{});
  mp::RawValue<int> go(0);
  mp::Semaphore ready(0);
  std::vector<pid_t> children;
  for (int i = 0; i < 3; ++i)
    children.push_back(fork_child([&] {
      std::scoped_lock with(cv);
      ready.release();
      return cv.wait_for([&] { return go.value() == 1; }, 30s) ? 0 : 1;
    }));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(ready.acquire(true, 30s));
  {
    std::scoped_lock with(cv);  // every child is now in wait()
    go.set_value(1);
    cv.notify_all();
  }
  for (pid_t c : children) EXPECT_EQ(join(c), 0);
}

TEST(MpCondition, AWaiterWhoseLockHolderDiedGetsOwnerDiedErrorHoldingTheLock) {
  mp::Lock lock;
  mp::Condition cv(lock);
  lock.acquire();
  pid_t child = fork_child([&] {
    lock.acquire();  // possible once the parent waits
    cv.notify();
    ::raise(SIGKILL);  // dies holding the lock
    return 0;
  });
  EXPECT_THROW(cv.wait(30s), mp::OwnerDiedError);
  EXPECT_TRUE(lock.locked());  // wait re-took it: `with` releases it
  lock.release();
  EXPECT_EQ(join(child), 128 + SIGKILL);
  EXPECT_TRUE(lock.acquire(false));
  lock.release();
}

TEST(MpCondition, ADeadWaiterIsSkippedByNotify) {
  mp::Condition cv;
  pid_t child = fork_child([&] {
    cv.acquire();
    cv.wait();
    return 0;
  });
  ASSERT_TRUE(pyconc_test::eventually([&] { return sync_test::child_asleep_in_futex(child); }, 30s));
  ::kill(child, SIGKILL);
  EXPECT_EQ(join(child), 128 + SIGKILL);
  mp::RawValue<int> flag(0);
  std::atomic<bool> entered{false};
  std::thread waiter([&] {
    std::scoped_lock with(cv);
    entered = true;
    EXPECT_TRUE(cv.wait_for([&] { return flag.value() == 1; }, 30s));
  });
  ASSERT_TRUE(pyconc_test::eventually([&] { return entered && lock_is_free(cv); }));
  {
    std::scoped_lock with(cv);
    flag.set_value(1);
    cv.notify();  // the dead child's older slot is skipped
  }
  waiter.join();
}

TEST(MpCondition, APickledHandleIsTheSameCondition) {
  mp::Condition cv;
  mp::Condition copy = roundtrip(cv);
  // Atomic: the two handles map the segment at two addresses of this process, and
  // ThreadSanitizer cannot see that they are one lock.
  std::atomic<int> flag{0};
  std::atomic<bool> entered{false};
  std::thread waiter([&] {
    std::scoped_lock with(copy);
    entered = true;
    EXPECT_TRUE(copy.wait_for([&] { return flag.load() == 1; }, 30s));
  });
  ASSERT_TRUE(pyconc_test::eventually([&] { return entered && lock_is_free(cv); }));
  {
    std::scoped_lock with(cv);
    flag.store(1);
    cv.notify();
  }
  waiter.join();
}

// ---- Barrier ----

int action_runs = 0;  // per process
void count_action() { ++action_runs; }
void throwing_action() { throw pyconc::ValueError("action failed"); }

TEST(MpBarrier, ThreadsPassTogetherWithDistinctIndices) {
  action_runs = 0;
  mp::Barrier barrier(3, count_action);
  EXPECT_EQ(barrier.parties(), 3u);
  EXPECT_EQ(barrier.n_waiting(), 0u);
  for (int round = 0; round < 3; ++round) {
    std::vector<std::size_t> indices(3);
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) threads.emplace_back([&, i] { indices[i] = barrier.wait(30s); });
    for (auto& t : threads) t.join();
    EXPECT_EQ(std::set<std::size_t>(indices.begin(), indices.end()), (std::set<std::size_t>{0, 1, 2}));
  }
  EXPECT_EQ(action_runs, 3);
  EXPECT_FALSE(barrier.broken());
}

TEST(MpBarrier, BadParties) {
  EXPECT_THROW(mp::Barrier(0), pyconc::ValueError);
  // Python's Barrier(-1) raises ValueError; a count that wrapped would be 2^64-1 parties.
  EXPECT_EQ(pyconc_test::message_of<pyconc::ValueError>([] { mp::Barrier b(-1); }), "parties must be > 0");
  EXPECT_EQ(pyconc_test::message_of<pyconc::ValueError>([] { mp::Barrier b(-1, nullptr, 1s); }), "parties must be > 0");
  EXPECT_THROW(mp::Barrier((1 << 20) + 1), pyconc::ValueError);
}

TEST(MpBarrier, ATimeoutBreaksIt) {
  mp::Barrier barrier(2);
  EXPECT_THROW(barrier.wait(0.05s), pyconc::BrokenBarrierError);
  EXPECT_TRUE(barrier.broken());
  EXPECT_THROW(barrier.wait(), pyconc::BrokenBarrierError);
  barrier.reset();
  EXPECT_FALSE(barrier.broken());
  mp::Barrier with_default(2, nullptr, 0.05s);
  EXPECT_THROW(with_default.wait(), pyconc::BrokenBarrierError);
}

TEST(MpBarrier, AbortAndResetReleaseWaiters) {
  mp::Barrier barrier(3);
  std::atomic<int> broken{0};
  std::thread t([&] {
    try {
      barrier.wait(30s);
    } catch (const pyconc::BrokenBarrierError&) {
      ++broken;
    }
  });
  ASSERT_TRUE(pyconc_test::eventually([&] { return barrier.n_waiting() == 1; }));
  barrier.abort();
  t.join();
  EXPECT_EQ(broken.load(), 1);
  EXPECT_TRUE(barrier.broken());
  barrier.reset();
  std::thread u([&] {
    try {
      barrier.wait(30s);
    } catch (const pyconc::BrokenBarrierError&) {
      ++broken;
    }
  });
  ASSERT_TRUE(pyconc_test::eventually([&] { return barrier.n_waiting() == 1; }));
  barrier.reset();  // the waiter gets BrokenBarrierError, the barrier is fine
  u.join();
  EXPECT_EQ(broken.load(), 2);
  EXPECT_FALSE(barrier.broken());
  EXPECT_EQ(barrier.n_waiting(), 0u);
}

TEST(MpBarrier, AThrowingActionBreaksIt) {
  mp::Barrier barrier(1, throwing_action);
  EXPECT_THROW(barrier.wait(), pyconc::ValueError);
  EXPECT_TRUE(barrier.broken());
}

TEST(MpBarrier, ProcessesPassTogetherAndTheActionRunsInTheLast) {
  mp::Barrier barrier(3, count_action);
  mp::RawArray<int> indices(3);
  mp::RawValue<int> actions(0);
  action_runs = 0;
  std::vector<pid_t> children;
  for (int i = 0; i < 2; ++i)
    children.push_back(fork_child([&, i] {
      for (int round = 0; round < 3; ++round) {
        std::size_t index = barrier.wait(30s);
        if (round == 2) indices[i] = static_cast<int>(index) + 1;
      }
      return action_runs;  // how often the action ran in this child
    }));
  for (int round = 0; round < 3; ++round) {
    std::size_t index = barrier.wait(30s);
    if (round == 2) indices[2] = static_cast<int>(index) + 1;
  }
  int total = action_runs;
  for (pid_t c : children) total += join(c);
  EXPECT_EQ(total, 3);
  std::set<int> seen(indices.begin(), indices.end());
  EXPECT_EQ(seen, (std::set<int>{1, 2, 3}));
}

TEST(MpBarrier, APartyKilledWhileOthersWaitBreaksIt) {
  mp::Barrier barrier(3);
  pid_t child = fork_child([&] {
    barrier.wait();
    return 0;
  });
  std::atomic<int> outcome{0};
  std::thread waiter([&] {
    try {
      barrier.wait(60s);
      outcome = 1;
    } catch (const pyconc::BrokenBarrierError&) {
      outcome = 2;
    }
  });
  ASSERT_TRUE(pyconc_test::eventually([&] { return barrier.n_waiting() == 2; }, 30s));
  ::kill(child, SIGKILL);
  waiter.join();
  EXPECT_EQ(outcome.load(), 2);
  EXPECT_TRUE(barrier.broken());
  EXPECT_EQ(join(child), 128 + SIGKILL);
  barrier.reset();
  EXPECT_FALSE(barrier.broken());
  EXPECT_EQ(barrier.n_waiting(), 0u);
}

TEST(MpBarrier, APickledHandleIsTheSameBarrier) {
  mp::Barrier barrier(2);
  mp::Barrier copy = roundtrip(barrier);
  EXPECT_EQ(copy.parties(), 2u);
  std::thread t([&] { copy.wait(30s); });
  barrier.wait(30s);
  t.join();
}

}  // namespace
