// The process-shared primitives and shared ctypes passed as multiprocessing::Process
// arguments, under every start method (mp_support.hpp's start_methods()): mutual
// exclusion, wake-ups across processes, and children killed while holding a lock or
// waiting at a barrier.
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "mp_support.hpp"
#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/barrier.hpp"
#include "pyconc/multiprocessing/condition.hpp"
#include "pyconc/multiprocessing/event.hpp"
#include "pyconc/multiprocessing/lock.hpp"
#include "pyconc/multiprocessing/rlock.hpp"
#include "pyconc/multiprocessing/semaphore.hpp"
#include "pyconc/multiprocessing/sharedctypes.hpp"

#if defined(__clang__)
#pragma clang diagnostic ignored "-Wthread-safety-analysis"
#endif

using namespace std::chrono_literals;
namespace mp = pyconc::multiprocessing;

namespace {

constexpr int kRounds = 5000;

void count_with_lock(mp::Lock lock, mp::RawValue<long> counter) {
  for (int i = 0; i < kRounds; ++i) {
    std::scoped_lock with(lock);
    counter.set_value(counter.value() + 1);
  }
}

void count_with_value_lock(mp::Value<long> counter, mp::Array<int> cells) {
  for (int i = 0; i < kRounds; ++i) {
    std::scoped_lock with(counter.get_lock());
    counter.set_value(counter.value() + 1);
  }
  for (int i = 0; i < 100; ++i) {
    std::scoped_lock with(cells.get_lock());
    cells[static_cast<std::size_t>(i % 2)] += 1;
  }
}

void hold_forever(mp::Lock lock, mp::RLock rlock, mp::Event held) {
  lock.acquire();
  rlock.acquire();
  rlock.acquire();
  held.set();
  for (;;) ::pause();
}

void set_event(mp::Event go, mp::Event done) {
  if (!go.wait(30s)) throw pyconc::RuntimeError("go never came");
  done.set();
}

void wait_for_stage(mp::Condition cv, mp::RawValue<int> stage) {
  std::scoped_lock with(cv);
  if (!cv.wait_for([&] { return stage.value() == 1; }, 30s)) throw pyconc::RuntimeError("not notified");
  stage.set_value(2);
  cv.notify_all();
}

void release_semaphores(mp::Semaphore sem, mp::BoundedSemaphore bounded) {
  for (int i = 0; i < 3; ++i) sem.release();
  bounded.release();
  try {
    bounded.release();
  } catch (const pyconc::ValueError&) {
    return;
  }
  throw pyconc::RuntimeError("over-release was accepted");
}

void wait_at_barrier(mp::Barrier barrier, mp::RawArray<int> indices, int slot) {
  for (int round = 0; round < 3; ++round) {
    std::size_t index = barrier.wait(30s);
    if (round == 2) indices[static_cast<std::size_t>(slot)] = static_cast<int>(index) + 1;
  }
}

void wait_at_barrier_forever(mp::Barrier barrier) { barrier.wait(); }

class SyncAcrossProcesses : public ::testing::TestWithParam<std::string> {
 protected:
  mp::Context ctx = mp::get_context(GetParam());
};

TEST_P(SyncAcrossProcesses, LockExcludesTwoChildren) {
  mp::Lock lock;
  mp::RawValue<long> counter(0);
  auto a = ctx.Process(count_with_lock, lock, counter);
  auto b = ctx.Process(count_with_lock, lock, counter);
  a.start();
  b.start();
  a.join();
  b.join();
  EXPECT_EQ(a.exitcode(), 0);
  EXPECT_EQ(b.exitcode(), 0);
  EXPECT_EQ(counter.value(), 2L * kRounds);
}

TEST_P(SyncAcrossProcesses, ValueAndArrayGetLockFromTwoChildren) {
  mp::Value<long> counter(0);
  mp::Array<int> cells(2);
  auto a = ctx.Process(count_with_value_lock, counter, cells);
  auto b = ctx.Process(count_with_value_lock, counter, cells);
  a.start();
  b.start();
  a.join();
  b.join();
  EXPECT_EQ(a.exitcode(), 0);
  EXPECT_EQ(b.exitcode(), 0);
  EXPECT_EQ(counter.value(), 2L * kRounds);
  EXPECT_EQ(cells.list(), (std::vector<int>{100, 100}));
}

TEST_P(SyncAcrossProcesses, AChildKilledHoldingLocksGivesOwnerDiedError) {
  mp::Lock lock;
  mp::RLock rlock;
  mp::Event held;
  auto p = ctx.Process(hold_forever, lock, rlock, held);
  p.start();
  ASSERT_TRUE(held.wait(30s));
  p.kill();
  EXPECT_THROW(lock.acquire(true, 30s), mp::OwnerDiedError);
  EXPECT_THROW(rlock.acquire(true, 30s), mp::OwnerDiedError);
  EXPECT_TRUE(lock.acquire(true, 5s));
  EXPECT_TRUE(rlock.acquire(true, 5s));
  lock.release();
  rlock.release();
  p.join();
  EXPECT_EQ(p.exitcode(), -SIGKILL);
}

TEST_P(SyncAcrossProcesses, EventSetInAChildWakesTheParent) {
  mp::Event go, done;
  auto p = ctx.Process(set_event, go, done);
  p.start();
  go.set();
  EXPECT_TRUE(done.wait(30s));
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(SyncAcrossProcesses, ConditionNotifyReachesAChild) {
  mp::Condition cv;
  mp::RawValue<int> stage(0);
  auto p = ctx.Process(wait_for_stage, cv, stage);
  p.start();
  {
    std::scoped_lock with(cv);
    stage.set_value(1);
    cv.notify();
    EXPECT_TRUE(cv.wait_for([&] { return stage.value() == 2; }, 30s));
  }
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(SyncAcrossProcesses, SemaphoresReleasedInAChild) {
  mp::Semaphore sem(0);
  mp::BoundedSemaphore bounded(1);
  bounded.acquire();
  auto p = ctx.Process(release_semaphores, sem, bounded);
  p.start();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(sem.acquire(true, 30s));
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(sem.get_value(), 0);
  EXPECT_EQ(bounded.get_value(), 1);
}

TEST_P(SyncAcrossProcesses, BarrierOfThreeProcesses) {
  mp::Barrier barrier(3);
  mp::RawArray<int> indices(3);
  auto a = ctx.Process(wait_at_barrier, barrier, indices, 0);
  auto b = ctx.Process(wait_at_barrier, barrier, indices, 1);
  a.start();
  b.start();
  wait_at_barrier(barrier, indices, 2);
  a.join();
  b.join();
  EXPECT_EQ(a.exitcode(), 0);
  EXPECT_EQ(b.exitcode(), 0);
  std::set<int> seen(indices.begin(), indices.end());
  EXPECT_EQ(seen, (std::set<int>{1, 2, 3}));
}

TEST_P(SyncAcrossProcesses, APartyKilledAtTheBarrierBreaksIt) {
  mp::Barrier barrier(3);
  auto p = ctx.Process(wait_at_barrier_forever, barrier);
  p.start();
  ASSERT_TRUE(pyconc_test::eventually([&] { return barrier.n_waiting() == 1; }, 30s));
  std::atomic<int> outcome{0};
  std::thread waiter([&] {
    try {
      barrier.wait(60s);
      outcome = 1;
    } catch (const pyconc::BrokenBarrierError&) {
      outcome = 2;
    }
  });
  ASSERT_TRUE(pyconc_test::eventually([&] { return barrier.n_waiting() == 2 || barrier.broken(); }, 30s));
  p.kill();
  waiter.join();
  EXPECT_EQ(outcome.load(), 2);
  EXPECT_TRUE(barrier.broken());
  p.join();
}

INSTANTIATE_TEST_SUITE_P(Methods, SyncAcrossProcesses, ::testing::ValuesIn(pyconc_test::start_methods()),
                         pyconc_test::method_name);

}  // namespace
