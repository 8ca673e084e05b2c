// The process-shared primitives and shared ctypes passed as multiprocessing::Process
// arguments, under every start method (mp_support.hpp's start_methods()): mutual
// exclusion, wake-ups across processes, and children killed while holding a lock or
// waiting at a barrier.
#include <dlfcn.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "helpers/barrier_action.hpp"
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
namespace fs = std::filesystem;

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

// Barrier actions: one in this program, one in a shared object of its own. Each counts
// its runs in the process that ran it.
std::atomic<int> program_action_runs{0};
void program_action() { program_action_runs.fetch_add(1); }
int action_runs(bool in_library) {
  return in_library ? pyconc_test_library_action_runs() : program_action_runs.load();
}

// Arrives last at the first wait (the action runs here), first at the second (it runs
// in the parent); `ran` gets how often it ran in this process.
void arrive_last_then_first(mp::Barrier barrier, bool in_library, mp::RawValue<int> ran) {
  const int before = action_runs(in_library);
  if (!pyconc_test::eventually([&] { return barrier.n_waiting() == 1; }, 30s))
    throw pyconc::RuntimeError("the parent never waited");
  barrier.wait(30s);
  barrier.wait(30s);
  ran.set_value(action_runs(in_library) - before);
}

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

TEST_P(SyncAcrossProcesses, BarrierActionRunsInWhicheverProcessArrivesLast) {
  for (bool in_library : {false, true}) {
    SCOPED_TRACE(in_library ? "action in a shared object" : "action in the program");
    mp::Barrier barrier(2, in_library ? &pyconc_test_library_action : &program_action);
    mp::RawValue<int> ran(-1);
    const int before = action_runs(in_library);
    auto p = ctx.Process(arrive_last_then_first, barrier, in_library, ran);
    p.start();
    barrier.wait(30s);  // first: the child runs the action
    EXPECT_EQ(action_runs(in_library), before);
    ASSERT_TRUE(pyconc_test::eventually([&] { return barrier.n_waiting() == 1 || !p.is_alive(); }, 30s));
    barrier.wait(30s);  // last: the action runs here
    EXPECT_EQ(action_runs(in_library), before + 1);
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_EQ(ran.value(), 1);
  }
}

// A copy of libmp_barrier_action.so at `depth` directories of 200 bytes under /tmp,
// dlopen()ed: its action is one only this process has loaded.
class LibraryCopy {
 public:
  explicit LibraryCopy(int depth) {
    Dl_info info{};
    if (::dladdr(reinterpret_cast<void*>(&pyconc_test_library_action), &info) == 0)
      throw std::runtime_error("dladdr failed");
    fs::path dir = top_;
    for (int i = 0; i < depth; ++i) dir /= std::string(200, static_cast<char>('a' + i));
    fs::create_directories(dir);
    fs::copy_file(info.dli_fname, dir / "libcopy.so");
    handle_ = ::dlopen((dir / "libcopy.so").c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) throw std::runtime_error(::dlerror());
    action_ = reinterpret_cast<mp::Barrier::Action>(::dlsym(handle_, "pyconc_test_library_action"));
  }
  ~LibraryCopy() {
    if (handle_) ::dlclose(handle_);
    fs::remove_all(top_);
  }
  LibraryCopy(const LibraryCopy&) = delete;
  LibraryCopy& operator=(const LibraryCopy&) = delete;
  mp::Barrier::Action action() const { return action_; }

 private:
  fs::path top_ = fs::temp_directory_path() / ("pyconc-barrier-" + std::to_string(::getpid()));
  void* handle_ = nullptr;
  mp::Barrier::Action action_ = nullptr;
};

// Waits until the other party waits, then arrives last; `outcome`: 1 passed, 2 got
// ProcessError (the action's module is not loaded here).
void arrive_last_where_not_loaded(mp::Barrier barrier, mp::RawValue<int> outcome) {
  if (!pyconc_test::eventually([&] { return barrier.n_waiting() == 1; }, 30s))
    throw pyconc::RuntimeError("the parent never waited");
  try {
    barrier.wait(30s);
    outcome.set_value(1);
  } catch (const mp::ProcessError&) {
    outcome.set_value(2);
  }
}

TEST_P(SyncAcrossProcesses, BarrierActionInAModuleTheChildHasNotLoadedBreaksIt) {
  if (GetParam() == "fork") GTEST_SKIP() << "a fork child has every module of its parent";
  LibraryCopy copy(1);
  ASSERT_NE(copy.action(), nullptr);
  ASSERT_NE(copy.action(), &pyconc_test_library_action);  // the copy's, not the linked one
  mp::Barrier barrier(2, copy.action());
  mp::RawValue<int> outcome(0);
  auto p = ctx.Process(arrive_last_where_not_loaded, barrier, outcome);
  p.start();
  EXPECT_THROW(barrier.wait(30s), pyconc::BrokenBarrierError);
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(outcome.value(), 2);
  EXPECT_TRUE(barrier.broken());
}

// The action's module path must fit the barrier's segment.
TEST(BarrierAction, AModulePathTooLongRaisesValueError) {
  LibraryCopy copy(6);  // over 1200 bytes
  ASSERT_NE(copy.action(), nullptr);
  try {
    mp::Barrier barrier(1, copy.action());
    ADD_FAILURE() << "no ValueError";
  } catch (const pyconc::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("longer than 1023 bytes"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, SyncAcrossProcesses, ::testing::ValuesIn(pyconc_test::start_methods()),
                         pyconc_test::method_name);

}  // namespace
