// Tests for futures::ThreadPoolExecutor (Python's concurrent.futures.ThreadPoolExecutor):
// the shared Executor suite, then what is particular to a pool of threads.
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <pyconc/errors.hpp>
#include <pyconc/futures.hpp>
#include <pyconc/threading.hpp>

#include "futures/executor_suite.hpp"
#include "support.hpp"

namespace futures = pyconc::futures;
namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::Clock;
using pyconc_test::asleep_in_futex;
using pyconc_test::eventually;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;
using pyconc_test::suite::kLong;

namespace {

struct ThreadPoolFactory {
  using Gate = pyconc_test::InProcessGate;
  static std::unique_ptr<futures::ThreadPoolExecutor> make(int workers) {
    return std::make_unique<futures::ThreadPoolExecutor>(workers);
  }
};

/// The same, with every option set: the options must not change what an Executor does.
struct ThreadPoolWithOptionsFactory {
  using Gate = pyconc_test::InProcessGate;
  static std::unique_ptr<futures::ThreadPoolExecutor> make(int workers) {
    return std::make_unique<futures::ThreadPoolExecutor>(
        workers, futures::ThreadPoolOptions{.thread_name_prefix = "suite", .initializer = [] {}});
  }
};

using ThreadPoolFactories = ::testing::Types<ThreadPoolFactory, ThreadPoolWithOptionsFactory>;

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(ThreadPool, ExecutorSuite, ThreadPoolFactories);

namespace {

using Gate = pyconc_test::InProcessGate;

/// How many live threads have a name starting with `prefix` + "_".
int threads_named(const std::string& prefix) {
  int n = 0;
  for (const auto& t : threading::enumerate())
    if (t->name().rfind(prefix + "_", 0) == 0) ++n;
  return n;
}

}  // namespace

TEST(ThreadPoolExecutor, DefaultMaxWorkers) {
  // Python 3.13: min(32, (os.process_cpu_count() or 1) + 4), the CPUs this process may
  // use; without an affinity mask, all of them.
  futures::ThreadPoolExecutor ex;
  int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) cpus = CPU_COUNT(&set);
  EXPECT_EQ(ex.max_workers(), std::min(32, cpus + 4));
  EXPECT_EQ(ex.submit([] { return 1; }).result(), 1);
}

TEST(ThreadPoolExecutor, MaxWorkersMustBePositive) {
  EXPECT_THROW(futures::ThreadPoolExecutor(0), pyconc::ValueError);
  EXPECT_THROW(futures::ThreadPoolExecutor(-1), pyconc::ValueError);
  EXPECT_THROW(futures::ThreadPoolExecutor(INT_MIN), pyconc::ValueError);
  EXPECT_EQ(pyconc_test::message_of<pyconc::ValueError>([] { futures::ThreadPoolExecutor ex(-1); }),
            "max_workers must be greater than 0");
  futures::ThreadPoolExecutor one(1);
  EXPECT_EQ(one.max_workers(), 1);
  futures::ThreadPoolExecutor many(100);
  EXPECT_EQ(many.max_workers(), 100);
}

TEST(ThreadPoolExecutor, ThreadsStartOnDemandAndIdleOnesAreReused) {
  const std::string prefix = "ondemand";
  futures::ThreadPoolExecutor ex(4, {.thread_name_prefix = prefix});
  EXPECT_EQ(threads_named(prefix), 0) << "no thread before the first submit";

  long first = ex.submit(threading::get_native_id).result();
  EXPECT_EQ(threads_named(prefix), 1);
  // Python reuses an idle worker rather than starting another. A worker is idle once it
  // waits for the next task; only then is reuse guaranteed.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(eventually([&] { return asleep_in_futex(first); }, kPrompt * 1s));
    EXPECT_EQ(ex.submit(threading::get_native_id).result(), first) << "round " << i;
  }
  EXPECT_EQ(threads_named(prefix), 1);
  ASSERT_TRUE(eventually([&] { return asleep_in_futex(first); }, kPrompt * 1s));

  // Busy workers (the first reuses the idle one): each submit starts one more thread, up to max_workers.
  Gate release;
  pyconc_test::suite::OpenOnExit<Gate> open({release});
  std::vector<Gate> started(5);
  std::vector<futures::Future<int>> fs;
  for (int i = 0; i < 5; ++i) fs.push_back(ex.submit(pyconc_test::suite::block<Gate>, started[i], release, i));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(started[i].wait(kLong)) << i;
  EXPECT_EQ(threads_named(prefix), 4);
  std::this_thread::sleep_for(50ms);  // negative check: the fifth waits for a worker
  EXPECT_FALSE(started[4].is_set());
  EXPECT_EQ(threads_named(prefix), 4);
  release.set();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(fs[i].result(), i);
}

TEST(ThreadPoolExecutor, SequentialTasksUseAtMostMaxWorkersThreads) {
  futures::ThreadPoolExecutor ex(4);
  std::set<unsigned long> idents;
  for (int i = 0; i < 50; ++i) idents.insert(ex.submit(threading::get_ident).result());
  EXPECT_GE(idents.size(), 1u);
  EXPECT_LE(idents.size(), 4u);
  EXPECT_EQ(idents.count(threading::get_ident()), 0u) << "tasks never run in the submitting thread";
}

TEST(ThreadPoolExecutor, ThreadNamesStartWithThePrefix) {
  futures::ThreadPoolExecutor ex(2, {.thread_name_prefix = "io"});
  Gate release;
  pyconc_test::suite::OpenOnExit<Gate> open({release});
  std::vector<Gate> started(2);
  auto name_when_released = [](Gate started, Gate release) {
    started.set();
    release.wait();
    return threading::current_thread().name();
  };
  auto a = ex.submit(name_when_released, started[0], release);
  auto b = ex.submit(name_when_released, started[1], release);
  ASSERT_TRUE(started[0].wait(kLong));
  ASSERT_TRUE(started[1].wait(kLong));
  release.set();
  EXPECT_EQ((std::set<std::string>{a.result(), b.result()}), (std::set<std::string>{"io_0", "io_1"}));

  // Without a prefix: "ThreadPoolExecutor-<k>_<n>", as Python names them.
  futures::ThreadPoolExecutor plain(1);
  std::string name = plain.submit([] { return threading::current_thread().name(); }).result();
  EXPECT_EQ(name.rfind("ThreadPoolExecutor-", 0), 0u) << name;
  EXPECT_EQ(name.substr(name.size() - 2), "_0") << name;
}

TEST(ThreadPoolExecutor, InitializerRunsInEachWorker) {
  static thread_local bool initialized = false;
  std::atomic<int> calls{0};
  futures::ThreadPoolExecutor ex(3, {.initializer = [&] {
                                       ++calls;
                                       initialized = true;
                                     }});
  Gate release;
  pyconc_test::suite::OpenOnExit<Gate> open({release});
  std::vector<Gate> started(3);
  auto check = [](Gate started, Gate release) {
    started.set();
    release.wait();
    return std::make_pair(initialized, threading::get_ident());
  };
  std::vector<futures::Future<std::pair<bool, unsigned long>>> fs;
  for (auto& s : started) fs.push_back(ex.submit(check, s, release));
  for (auto& s : started) ASSERT_TRUE(s.wait(kLong));
  release.set();
  std::set<unsigned long> idents;
  for (auto& f : fs) {
    EXPECT_TRUE(f.result().first);
    idents.insert(f.result().second);
  }
  EXPECT_EQ(idents.size(), 3u);
  EXPECT_EQ(calls.load(), 3);
  EXPECT_FALSE(initialized) << "the initializer never runs in the submitting thread";
  // Reused workers are not initialised again.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(ex.submit([] { return initialized; }).result());
  EXPECT_EQ(calls.load(), 3);
}

TEST(ThreadPoolExecutor, FailingInitializerBreaksThePool) {
  threading::Event go;
  testing::internal::CaptureStderr();
  std::string err;
  {
    futures::ThreadPoolExecutor ex(2, {.initializer = [&] {
                                         go.wait();
                                         throw pyconc::ValueError("init failed");
                                       }});
    std::vector<futures::Future<int>> pending;
    for (int i = 0; i < 3; ++i) pending.push_back(ex.submit([i] { return i; }));
    auto cancelled = ex.submit([] { return 3; });
    ASSERT_TRUE(cancelled.cancel());
    go.set();
    // A future cancelled while queued stays cancelled, and wait() sees it settle.
    auto [done, not_done] = futures::wait(std::vector{cancelled}, kLong);
    EXPECT_EQ(done.size(), 1u);
    EXPECT_TRUE(cancelled.cancelled());
    for (auto& f : pending) {
      EXPECT_THROW(f.result(), futures::BrokenThreadPool);
      EXPECT_TRUE(f.done());
      std::exception_ptr error = f.exception();
      ASSERT_NE(error, nullptr);
      EXPECT_THROW(std::rethrow_exception(error), futures::BrokenExecutor);
    }
    EXPECT_THROW(ex.submit([] { return 0; }), futures::BrokenThreadPool);
    EXPECT_THROW(ex.map([](int x) { return x; }, std::vector{1}), futures::BrokenThreadPool);
    ex.shutdown();  // a broken pool still shuts down
  }
  err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("initializer"), std::string::npos) << err;
  EXPECT_NE(err.find("init failed"), std::string::npos) << err;
}

TEST(ThreadPoolExecutor, AtMostMaxWorkersTasksRunAtOnce) {
  constexpr int kWorkers = 3, kTasks = 10;
  futures::ThreadPoolExecutor ex(kWorkers);
  std::atomic<int> running{0}, most{0}, started{0};
  threading::Event release;
  auto task = [&](int i) {
    ++started;
    int now = ++running;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    release.wait();
    --running;
    return i;
  };
  std::vector<futures::Future<int>> fs;
  for (int i = 0; i < kTasks; ++i) fs.push_back(ex.submit(task, i));
  ASSERT_TRUE(eventually([&] { return running.load() == kWorkers; }));
  std::this_thread::sleep_for(50ms);  // negative check: nobody else starts
  EXPECT_EQ(started.load(), kWorkers);
  release.set();
  for (int i = 0; i < kTasks; ++i) EXPECT_EQ(fs[i].result(), i);
  EXPECT_EQ(most.load(), kWorkers);
  EXPECT_EQ(started.load(), kTasks);
}

TEST(ThreadPoolExecutor, OneWorkerRunsTasksInSubmissionOrder) {
  futures::ThreadPoolExecutor ex(1);
  std::vector<int> order;  // touched by the single worker only
  std::vector<futures::Future<void>> fs;
  for (int i = 0; i < 20; ++i) fs.push_back(ex.submit([&order, i] { order.push_back(i); }));
  for (auto& f : fs) f.result();
  std::vector<int> expected(20);
  for (int i = 0; i < 20; ++i) expected[i] = i;
  EXPECT_EQ(order, expected);
}

namespace {
struct Account {
  int balance = 0;
  int deposit(int amount) { return balance += amount; }
};
}  // namespace

TEST(ThreadPoolExecutor, AcceptsAnyCallable) {
  futures::ThreadPoolExecutor ex(2);
  // Move-only arguments and results.
  auto f = ex.submit([](std::unique_ptr<int> p) { return std::make_unique<int>(*p + 1); }, std::make_unique<int>(41));
  const std::unique_ptr<int>& r = f.result();
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(*r, 42);
  // A capturing lambda, std::ref to share an argument, a member function.
  int captured = 3;
  EXPECT_EQ(ex.submit([&] { return captured * 2; }).result(), 6);
  int shared = 0;
  ex.submit([](int& out) { out = 9; }, std::ref(shared)).result();
  EXPECT_EQ(shared, 9);
  Account account;
  EXPECT_EQ(ex.submit(&Account::deposit, &account, 5).result(), 5);
  EXPECT_EQ(account.balance, 5);
  // map() takes any callable too.
  int offset = 100;
  EXPECT_EQ(ex.map([offset](int x) { return x + offset; }, std::vector{1, 2}).to_vector(), (std::vector{101, 102}));
  // Arguments are copied at submit time.
  std::string text = "before";
  auto copy = ex.submit([](const std::string& s) { return s; }, text);
  text = "after";
  EXPECT_EQ(copy.result(), "before");
}

TEST(ThreadPoolExecutor, TaskSeesWritesBeforeSubmitAndCallerSeesTheTasksWrites) {
  futures::ThreadPoolExecutor ex(2);
  for (int round = 0; round < 50; ++round) {
    std::vector<int> data(8, round);  // plain memory: ThreadSanitizer checks the ordering
    int written = 0;
    auto f = ex.submit([&] {
      int sum = 0;
      for (int x : data) sum += x;
      written = sum;
      data.assign(8, -1);
    });
    f.result();
    EXPECT_EQ(written, 8 * round);
    EXPECT_EQ(data[0], -1);
  }
}

TEST(ThreadPoolExecutor, DoneCallbackRunsInTheWorker) {
  futures::ThreadPoolExecutor ex(1);
  Gate started, release;
  pyconc_test::suite::OpenOnExit<Gate> open({release});
  auto f = ex.submit([=] {
    started.set();
    release.wait();
    return threading::get_ident();
  });
  ASSERT_TRUE(started.wait(kLong));
  std::atomic<unsigned long> callback_thread{0};
  threading::Event called;
  f.add_done_callback([&](futures::Future<unsigned long> done) {
    callback_thread = threading::get_ident();
    EXPECT_TRUE(done.done());
    called.set();
  });
  release.set();
  ASSERT_TRUE(called.wait(kLong));
  EXPECT_EQ(callback_thread.load(), f.result());
}

TEST(ThreadPoolExecutor, TasksMaySubmitMoreWork) {
  futures::ThreadPoolExecutor ex(2);
  auto outer = ex.submit([&ex] { return ex.submit([] { return 20; }).result() + 1; });
  EXPECT_EQ(outer.result(), 21);
}

TEST(ThreadPoolExecutor, ManySmallTasksFromSeveralThreads) {
  futures::ThreadPoolExecutor ex(4);
  constexpr int kThreads = 3, kEach = 400;
  std::atomic<long> total{0};
  std::vector<std::thread> submitters;
  for (int t = 0; t < kThreads; ++t)
    submitters.emplace_back([&] {
      std::vector<futures::Future<int>> fs;
      for (int i = 0; i < kEach; ++i) fs.push_back(ex.submit([](int x) { return x; }, i));
      long sum = 0;
      for (auto& f : fs) sum += f.result();
      total += sum;
    });
  for (auto& s : submitters) s.join();
  EXPECT_EQ(total.load(), kThreads * (kEach * (kEach - 1) / 2L));
}

TEST(ThreadPoolExecutor, WorkersExitAfterShutdown) {
  const std::string prefix = "exiting";
  {
    futures::ThreadPoolExecutor ex(3, {.thread_name_prefix = prefix});
    Gate release;
    pyconc_test::suite::OpenOnExit<Gate> open({release});
    std::vector<Gate> started(3);
    std::vector<futures::Future<int>> fs;
    for (int i = 0; i < 3; ++i) fs.push_back(ex.submit(pyconc_test::suite::block<Gate>, started[i], release, i));
    for (auto& s : started) ASSERT_TRUE(s.wait(kLong));
    EXPECT_EQ(threads_named(prefix), 3);
    release.set();
    ex.shutdown(true);
    EXPECT_EQ(threads_named(prefix), 0) << "shutdown(wait=true) joins the workers";
  }
  {
    futures::ThreadPoolExecutor ex(2, {.thread_name_prefix = prefix});
    EXPECT_EQ(ex.submit([] { return 1; }).result(), 1);
  }
  EXPECT_EQ(threads_named(prefix), 0) << "the destructor joins the workers";
}

TEST(ThreadPoolExecutor, ShutdownWithoutWaitFromSeveralThreads) {
  futures::ThreadPoolExecutor ex(2);
  auto f = ex.submit([] { return 5; });
  std::vector<std::thread> closers;
  for (int i = 0; i < 3; ++i) closers.emplace_back([&, i] { ex.shutdown(i % 2 == 0); });
  for (auto& c : closers) c.join();
  EXPECT_EQ(f.result(), 5);
  EXPECT_THROW(ex.submit([] { return 0; }), pyconc::RuntimeError);
}

// Once every worker has started, submit() takes no lock of its own: the work queue
// orders it against shutdown(). A submitter racing with shutdown() gets, for each call,
// either a future whose task runs (queued before the shutdown) or RuntimeError, and
// never a future again after its first RuntimeError.
namespace {

/// Makes `ex` start its `n` workers: n tasks that wait for each other.
void start_workers(futures::ThreadPoolExecutor& ex, int n) {
  threading::Barrier all(n);
  std::vector<futures::Future<void>> fs;
  for (int i = 0; i < n; ++i) fs.push_back(ex.submit([&all] { all.wait(kLong); }));
  for (auto& f : fs) f.result();
}

}  // namespace

TEST(ThreadPoolExecutor, SubmitsRacingWithShutdownRunOrRaise) {
  for (int round = 0; round < 20; ++round) {
    futures::ThreadPoolExecutor ex(2);
    start_workers(ex, 2);
    threading::Event submitting;
    std::vector<futures::Future<int>> accepted;
    int refused = 0, accepted_after_refusal = 0;
    std::thread submitter([&] {
      for (int i = 0; i < 20000; ++i) {
        try {
          auto f = ex.submit([i] { return i; });
          if (refused > 0) ++accepted_after_refusal;
          accepted.push_back(std::move(f));
        } catch (const pyconc::RuntimeError&) {
          ++refused;
        }
        if (i == 100) submitting.set();
      }
    });
    ASSERT_TRUE(submitting.wait(kLong));
    ex.shutdown(round % 2 == 0);
    submitter.join();
    EXPECT_EQ(accepted_after_refusal, 0) << round;
    EXPECT_GE(accepted.size(), 101u);
    for (std::size_t i = 0; i < accepted.size(); ++i) ASSERT_EQ(accepted[i].result(kLong), static_cast<int>(i)) << round;
    EXPECT_EQ(static_cast<int>(accepted.size()) + refused, 20000);
  }
}

// ------------------------------------------------------------- waking idle workers
//
// Idle workers first poll for work, then sleep. However they wait, an idle worker must
// take new work at once, even while another worker is stuck in a long task (Python's
// pool wakes an idle worker on every submit).

namespace {

/// The kernel thread ids of a pool's `n` workers, each of which has run a task.
std::vector<long> worker_ids(futures::ThreadPoolExecutor& ex, int n) {
  threading::Barrier all(n);
  std::vector<futures::Future<long>> fs;
  for (int i = 0; i < n; ++i)
    fs.push_back(ex.submit([&all] {
      all.wait(kLong);  // n tasks at once: one per worker
      return static_cast<long>(threading::get_native_id());
    }));
  std::vector<long> ids;
  for (auto& f : fs) ids.push_back(f.result());
  return ids;
}

bool all_asleep(const std::vector<long>& ids) {
  return std::all_of(ids.begin(), ids.end(), [](long id) { return asleep_in_futex(id); });
}

}  // namespace

TEST(ThreadPoolExecutor, IdleWorkersSleepInsteadOfSpinning) {
  futures::ThreadPoolExecutor ex(3);
  std::vector<long> ids = worker_ids(ex, 3);
  EXPECT_TRUE(eventually(([&] { return all_asleep(ids); }), 10s)) << "an idle worker keeps a CPU busy";
  // And they wake for new work.
  EXPECT_EQ(ex.submit([] { return 7; }).result(pyconc::Seconds(kPrompt)), 7);
}

TEST(ThreadPoolExecutor, AnIdleWorkerTakesNewWorkWhileAnotherIsBusy) {
  futures::ThreadPoolExecutor ex(2);
  std::vector<long> ids = worker_ids(ex, 2);
  for (int round = 0; round < 200; ++round) {
    // Every tenth round starts from sleeping workers, the others from busy or polling ones.
    if (round % 10 == 0) {
      ASSERT_TRUE(eventually([&] { return all_asleep(ids); }, 10s));
    }
    threading::Event release;
    struct SetOnExit {  // a failing assertion must not leave the busy task waiting
      threading::Event& event;
      ~SetOnExit() { event.set(); }
    } guard{release};
    auto busy = ex.submit([&release] { return release.wait(kLong); });
    // The second task must run although the first one holds its worker.
    auto quick = ex.submit([] { return 1; });
    ASSERT_EQ(quick.result(pyconc::Seconds(kPrompt)), 1) << "round " << round;
    EXPECT_FALSE(busy.done());
    release.set();
    EXPECT_TRUE(busy.result(pyconc::Seconds(kPrompt)));
  }
}

TEST(ThreadPoolExecutor, ABurstOfBlockingTasksRunsOnAllWorkersAtOnce) {
  constexpr int kWorkers = 4;
  futures::ThreadPoolExecutor ex(kWorkers);
  std::vector<long> ids = worker_ids(ex, kWorkers);
  for (int round = 0; round < 50; ++round) {
    if (round % 5 == 0) {
      ASSERT_TRUE(eventually([&] { return all_asleep(ids); }, 10s));
    }
    // Each task waits for all the others: they only finish if all run at the same time.
    threading::Barrier together(kWorkers);
    std::vector<futures::Future<bool>> fs;
    for (int i = 0; i < kWorkers; ++i)
      fs.push_back(ex.submit([&together] {
        try {
          together.wait(pyconc::Seconds(kPrompt));
          return true;
        } catch (const pyconc::BrokenBarrierError&) {
          return false;
        }
      }));
    for (auto& f : fs) ASSERT_TRUE(f.result()) << "round " << round << ": a task waited behind another";
  }
}

TEST(ThreadPoolExecutor, ShutdownWakesSleepingWorkers) {
  futures::ThreadPoolExecutor ex(3, {.thread_name_prefix = "sleepy"});
  std::vector<long> ids = worker_ids(ex, 3);
  ASSERT_TRUE(eventually([&] { return all_asleep(ids); }, 10s));
  EXPECT_EQ(threads_named("sleepy"), 3);
  auto start = Clock::now();
  ex.shutdown(true);
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_EQ(threads_named("sleepy"), 0);
}

// ------------------------------------------------------------------ lifetimes
//
// A task's state is shared by its Future handles and the work queue (counted
// references): dropping every handle at once must neither stop the task nor leak it.

TEST(ThreadPoolExecutor, DroppedFuturesStillRunAndEverythingIsFreed) {
  auto token = std::make_shared<int>(0);
  std::atomic<int> ran{0};
  {
    futures::ThreadPoolExecutor ex(2);
    for (int i = 0; i < 1000; ++i) ex.submit([token, &ran] { return ran.fetch_add(1) + 1; });
    ex.shutdown(true);
    EXPECT_EQ(ran.load(), 1000);
  }
  EXPECT_EQ(token.use_count(), 1) << "every call and every future state freed";
}

TEST(ThreadPoolExecutor, CancelledWorkWithoutHandlesIsFreed) {
  auto token = std::make_shared<int>(0);
  std::atomic<int> ran{0};
  threading::Event started, release;
  {
    futures::ThreadPoolExecutor ex(1);
    auto blocker = ex.submit([&] {
      started.set();
      release.wait();
    });
    ASSERT_TRUE(started.wait(10s));
    for (int i = 0; i < 100; ++i) ex.submit([token, &ran] { ran.fetch_add(1); });
    ex.shutdown(false, true);  // cancels the queued calls while the worker is busy
    release.set();
    blocker.result();
  }
  EXPECT_EQ(ran.load(), 0) << "cancelled before they started";
  EXPECT_EQ(token.use_count(), 1) << "the cancelled calls and their states freed";
}
