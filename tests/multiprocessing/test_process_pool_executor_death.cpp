// futures::ProcessPoolExecutor when workers die, with Python's contract: the pool is
// broken, the running and every pending future raise BrokenProcessPool (whose message
// names the pid and the exit code or signal), later submit() raises it, shutdown()
// returns and no worker is left. terminate_workers() and kill_workers(); an initializer
// that throws. Under fork, spawn and forkserver.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <string>
#include <tuple>
#include <vector>

#include <pyconc/errors.hpp>
#include <pyconc/futures/wait.hpp>
#include <pyconc/multiprocessing.hpp>

#include "mp_support.hpp"
#include "pool_death_support.hpp"

namespace futures = pyconc::futures;
namespace mp = pyconc::multiprocessing;
using namespace std::chrono_literals;
using namespace pyconc_test::death;

namespace {

void failing_init() { throw pyconc::ValueError("no initialisation today"); }

std::string g_setting;  // in each worker: what set_setting() stored
void set_setting(int n, std::string word) { g_setting = word + "-" + std::to_string(n); }
std::string setting(int) { return g_setting; }

futures::ProcessPoolOptions in(const std::string& method) { return {.mp_context = mp::get_context(method)}; }

/// The message of the BrokenProcessPool that `f` raises (fails the test otherwise).
template <class T>
std::string broken_message(const futures::Future<T>& f) {
  try {
    f.result(30s);
  } catch (const futures::BrokenProcessPool& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected BrokenProcessPool, got: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected BrokenProcessPool, got a result";
  return "";
}

// ---- a worker's death breaks the pool ----

class ExecutorTaskDeath : public ::testing::TestWithParam<std::tuple<std::string, Death>> {};

TEST_P(ExecutorTaskDeath, RunningAndPendingFuturesRaiseBrokenProcessPool) {
  auto [method, death] = GetParam();
  futures::ProcessPoolExecutor ex(2, in(method));
  mp::Event release_victim, release_others, unused;
  std::vector<mp::Event> started(2);
  auto victim = ex.submit(hold_then_die, started[0], release_victim, static_cast<int>(death));
  std::vector<futures::Future<int>> others;
  others.push_back(ex.submit(hold, started[1], release_others, 1));
  for (int i = 2; i < 10; ++i) others.push_back(ex.submit(hold, unused, release_others, i));
  for (auto& e : started) ASSERT_TRUE(e.wait(60s));
  std::vector<int> pids = ex.worker_pids();
  ASSERT_EQ(pids.size(), 2u);

  release_victim.set();
  std::string what = broken_message(victim);
  EXPECT_NE(what.find(death_words(death)), std::string::npos) << what;
  int dead = pid_in(what);
  EXPECT_TRUE(dead == pids[0] || dead == pids[1]) << what;
  for (auto& f : others) {
    std::string m = broken_message(f);
    EXPECT_EQ(pid_in(m), dead) << m;
  }
  EXPECT_THROW(ex.submit(square, 1), futures::BrokenProcessPool);
  auto t0 = std::chrono::steady_clock::now();
  ex.shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
  EXPECT_TRUE(all_gone(pids));
  release_others.set();
}

INSTANTIATE_TEST_SUITE_P(Methods, ExecutorTaskDeath,
                         ::testing::Combine(::testing::ValuesIn(pyconc_test::start_methods()),
                                            ::testing::Values(Death::sigkill, Death::abort, Death::segfault,
                                                              Death::exit3)),
                         MethodDeathName{});

class ExecutorDeath : public ::testing::TestWithParam<std::string> {};

TEST_P(ExecutorDeath, WorkerKilledFromOutside) {
  futures::ProcessPoolExecutor ex(2, in(GetParam()));
  mp::Event release, unused;
  std::vector<mp::Event> started(2);
  std::vector<futures::Future<int>> fs;
  for (int i = 0; i < 2; ++i) fs.push_back(ex.submit(hold, started[i], release, i));
  for (int i = 2; i < 12; ++i) fs.push_back(ex.submit(hold, unused, release, i));
  for (auto& e : started) ASSERT_TRUE(e.wait(60s));
  std::vector<int> pids = ex.worker_pids();
  ASSERT_EQ(pids.size(), 2u);

  ASSERT_EQ(::kill(pids[1], SIGKILL), 0);
  for (auto& f : fs) {
    std::string m = broken_message(f);
    EXPECT_EQ(pid_in(m), pids[1]) << m;
    EXPECT_NE(m.find("killed by signal 9 (SIGKILL)"), std::string::npos) << m;
  }
  EXPECT_THROW(ex.submit(square, 1), futures::BrokenProcessPool);
  EXPECT_THROW(ex.map(square, std::vector<int>{1, 2}), futures::BrokenProcessPool);
  ex.shutdown();
  EXPECT_TRUE(all_gone(pids));
}

// The futures of a broken pool and of a sound one, together in wait() and as_completed().
TEST_P(ExecutorDeath, BrokenFuturesWorkWithWaitAndAsCompleted) {
  futures::ProcessPoolExecutor broken(1, in(GetParam()));
  futures::ProcessPoolExecutor sound(2, in(GetParam()));
  mp::Event dying, release_death;
  std::vector<futures::Future<int>> fs;
  fs.push_back(sound.submit(square, 3));
  fs.push_back(broken.submit(hold_then_die, dying, release_death, static_cast<int>(Death::sigkill)));
  fs.push_back(sound.submit(square, 4));
  fs.push_back(broken.submit(square, 6));  // behind the death, in the same worker
  release_death.set();

  auto [done, not_done] = futures::wait(fs, 30s);
  EXPECT_EQ(done.size(), 4u);
  EXPECT_TRUE(not_done.empty());

  int values = 0, broken_count = 0;
  for (auto f : futures::as_completed(fs, 30s)) {
    if (f.exception()) {
      EXPECT_THROW(f.result(), futures::BrokenProcessPool);
      ++broken_count;
    } else {
      values += f.result();
    }
  }
  EXPECT_EQ(values, 9 + 16);
  EXPECT_EQ(broken_count, 2);
  EXPECT_THROW(broken.submit(square, 1), futures::BrokenProcessPool);
  EXPECT_EQ(sound.submit(square, 5).result(30s), 25);

  // FIRST_EXCEPTION returns as soon as the broken pool's future fails.
  futures::ProcessPoolExecutor doomed(1, in(GetParam()));
  mp::Event release, started;
  auto slow = sound.submit(hold, started, release, 1);
  auto lost = doomed.submit(square_or_die, 2, 2, static_cast<int>(Death::sigkill));
  std::vector<futures::Future<int>> mixed{slow, lost};
  auto first = futures::wait(mixed, 30s, futures::FIRST_EXCEPTION);
  ASSERT_EQ(first.done.size(), 1u);
  EXPECT_THROW(first.done[0].result(), futures::BrokenProcessPool);
  release.set();
  EXPECT_EQ(slow.result(30s), 1);
}

// terminate_workers() / kill_workers() (Python 3.14): the pending futures are cancelled
// (those already sent to a worker, one per worker, cannot be: they raise
// BrokenProcessPool), the running ones raise BrokenProcessPool; then no worker is left
// and submit() raises (RuntimeError, as Python's shut down executor).
void force_shutdown_case(const std::string& method, bool kill) {
  futures::ProcessPoolExecutor ex(2, in(method));
  mp::Event release, unused;
  std::vector<mp::Event> started(2);
  std::vector<futures::Future<int>> fs;
  for (int i = 0; i < 2; ++i) fs.push_back(ex.submit(hold, started[i], release, i));
  constexpr int kPending = 10;
  for (int i = 0; i < kPending; ++i) fs.push_back(ex.submit(hold, unused, release, 100 + i));
  for (auto& e : started) ASSERT_TRUE(e.wait(60s));
  std::vector<int> pids = ex.worker_pids();

  auto t0 = std::chrono::steady_clock::now();
  if (kill) ex.kill_workers();
  else ex.terminate_workers();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);

  ASSERT_TRUE(futures::wait(fs, 30s).not_done.empty()) << "a future never ended";
  for (int i = 0; i < 2; ++i) broken_message(fs[i]);
  int cancelled = 0;
  for (int i = 2; i < 2 + kPending; ++i) {
    if (fs[i].cancelled()) {
      ++cancelled;
      EXPECT_THROW(fs[i].result(), pyconc::CancelledError);
    } else {
      broken_message(fs[i]);
    }
  }
  EXPECT_GE(cancelled, kPending - 2);
  EXPECT_TRUE(all_gone(pids));
  EXPECT_THROW(ex.submit(square, 1), pyconc::RuntimeError);
  ex.shutdown();
}

TEST_P(ExecutorDeath, TerminateWorkers) { force_shutdown_case(GetParam(), false); }
TEST_P(ExecutorDeath, KillWorkers) { force_shutdown_case(GetParam(), true); }

TEST_P(ExecutorDeath, ForceShutdownOfAnIdleOrUnstartedExecutor) {
  futures::ProcessPoolExecutor unstarted(2, in(GetParam()));
  unstarted.kill_workers();
  EXPECT_THROW(unstarted.submit(square, 1), pyconc::RuntimeError);

  futures::ProcessPoolExecutor idle(2, in(GetParam()));
  EXPECT_EQ(idle.submit(square, 2).result(30s), 4);
  std::vector<int> pids = idle.worker_pids();
  idle.terminate_workers();
  EXPECT_TRUE(all_gone(pids));
  idle.terminate_workers();  // again: nothing left to do
}

TEST_P(ExecutorDeath, InitializerThatThrowsBreaksThePool) {
  futures::ProcessPoolExecutor ex(2, {.mp_context = mp::get_context(GetParam()), .initializer = failing_init});
  auto f = ex.submit(square, 3);
  std::string m = broken_message(f);
  EXPECT_NE(m.find("initializer"), std::string::npos) << m;
  EXPECT_NE(m.find("no initialisation today"), std::string::npos) << m;
  EXPECT_THROW(ex.submit(square, 4), futures::BrokenProcessPool);
  std::vector<int> pids = ex.worker_pids();
  ex.shutdown();
  EXPECT_TRUE(all_gone(pids));
}

TEST_P(ExecutorDeath, InitializerWithInitargsRunsInEveryWorker) {
  futures::ProcessPoolExecutor ex(2, {.mp_context = mp::get_context(GetParam()),
                                      .initializer = set_setting,
                                      .initargs = std::tuple<int, std::string>{7, "seven"}});
  std::vector<futures::Future<std::string>> fs;
  for (int i = 0; i < 8; ++i) fs.push_back(ex.submit(setting, i));
  for (auto& f : fs) EXPECT_EQ(f.result(30s), "seven-7");
}

INSTANTIATE_TEST_SUITE_P(Methods, ExecutorDeath, ::testing::ValuesIn(pyconc_test::start_methods()),
                         pyconc_test::method_name);

}  // namespace
