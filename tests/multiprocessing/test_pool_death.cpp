// multiprocessing::Pool when workers die: the task the dead worker held (and only it)
// fails with WorkerLostError naming the pid and the exit code or signal; every other
// task completes; the worker is replaced and the pool keeps serving. Under fork, spawn
// and forkserver. (Python's Pool hangs in every one of these cases.)
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <pyconc/errors.hpp>
#include <pyconc/multiprocessing.hpp>

#include "mp_support.hpp"
#include "pool_death_support.hpp"
#include "sanitizers.hpp"

namespace mp = pyconc::multiprocessing;
using namespace std::chrono_literals;
using namespace pyconc_test::death;

namespace {

void failing_init() { throw pyconc::ValueError("no initialisation today"); }
int square_or_die_at_4(int x) { return square_or_die(x, 4, static_cast<int>(Death::sigkill)); }

// ---- a task that ends its own worker ----

class PoolTaskDeath : public ::testing::TestWithParam<std::tuple<std::string, Death>> {};

TEST_P(PoolTaskDeath, OnlyThatTaskFailsAndTheWorkerIsReplaced) {
  auto [method, death] = GetParam();
  mp::Pool pool = mp::get_context(method).Pool(2);
  std::vector<int> before = pool.worker_pids();
  ASSERT_EQ(before.size(), 2u);

  constexpr int kTasks = 24, kVictim = 7;
  std::vector<mp::AsyncResult<int>> results;
  for (int i = 0; i < kTasks; ++i) results.push_back(pool.apply_async(square_or_die, i, kVictim, static_cast<int>(death)));

  int dead_pid = -1;
  for (int i = 0; i < kTasks; ++i) {
    if (i != kVictim) {
      EXPECT_EQ(results[i].get(30s), i * i) << "task " << i;
      continue;
    }
    try {
      results[i].get(30s);
      ADD_FAILURE() << "the task that ended its worker returned";
    } catch (const mp::WorkerLostError& e) {
      std::string what = e.what();
      EXPECT_NE(what.find(death_words(death)), std::string::npos) << what;
      dead_pid = pid_in(what);
      EXPECT_NE(std::find(before.begin(), before.end(), dead_pid), before.end()) << what;
    }
  }
  EXPECT_FALSE(results[kVictim].successful());

  // The pool keeps serving, with a replacement worker.
  EXPECT_EQ(pool.apply_async(square, 9).get(30s), 81);
  EXPECT_TRUE(wait_until([&] {
    auto now = pool.worker_pids();
    return now.size() == 2u && std::find(now.begin(), now.end(), dead_pid) == now.end();
  }));
  EXPECT_TRUE(all_gone({dead_pid}));
  std::vector<int> seen = pool.worker_pids();
  seen.insert(seen.end(), before.begin(), before.end());
  pool.close();
  pool.join();
  EXPECT_TRUE(all_gone(seen));
}

INSTANTIATE_TEST_SUITE_P(Methods, PoolTaskDeath,
                         ::testing::Combine(::testing::ValuesIn(pyconc_test::start_methods()),
                                            ::testing::Values(Death::sigkill, Death::abort, Death::segfault,
                                                              Death::exit3)),
                         MethodDeathName{});

// ---- per start method ----

class PoolDeath : public ::testing::TestWithParam<std::string> {};

// Kills the pool's workers `kills` times, each once `progress()` has passed the next of
// `kills` evenly spaced marks up to `total`. Returns the number of kills that hit a
// live process.
template <class Progress>
int kill_workers_during(mp::Pool& pool, int kills, int total, Progress progress) {
  std::mt19937 rng(12345);
  int hit = 0;
  for (int k = 0; k < kills; ++k) {
    int mark = static_cast<int>(static_cast<long long>(total) * (k + 1) / (kills + 2));
    if (!wait_until([&] { return progress() >= mark; }, 60s)) break;
    std::vector<int> pids = pool.worker_pids();
    if (pids.empty()) continue;
    int pid = pids[std::uniform_int_distribution<std::size_t>(0, pids.size() - 1)(rng)];
    if (::kill(pid, SIGKILL) == 0) ++hit;
  }
  return hit;
}

TEST_P(PoolDeath, RandomKillsDuringApplyAsyncLoad) {
#ifdef PYCONC_SANITIZED
  constexpr int kTasks = 1500;
#else
  constexpr int kTasks = 4000;
#endif
  constexpr int kKills = 6;
  mp::Pool pool = mp::get_context(GetParam()).Pool(2);
  std::atomic<int> ended{0};
  std::vector<mp::AsyncResult<int>> results;
  results.reserve(kTasks);
  for (int i = 0; i < kTasks; ++i)
    results.push_back(pool.apply_async(busy_square,
                                       mp::ApplyOptions<int>{.callback = [&](const int&) { ++ended; },
                                                             .error_callback = [&](std::exception_ptr) { ++ended; }},
                                       i, 100));
  int hit = kill_workers_during(pool, kKills, kTasks, [&] { return ended.load(); });

  auto deadline = std::chrono::steady_clock::now() + 120s;
  int lost = 0;
  for (int i = 0; i < kTasks; ++i) {
    auto left = std::chrono::duration<double>(deadline - std::chrono::steady_clock::now());
    ASSERT_TRUE(results[i].wait(std::max(left, pyconc::Seconds(0)))) << "result " << i << " never ended";
    try {
      EXPECT_EQ(results[i].get(), i * i);
    } catch (const mp::WorkerLostError& e) {
      ++lost;
      EXPECT_NE(std::string(e.what()).find("killed by signal 9 (SIGKILL)"), std::string::npos) << e.what();
    }
  }
  EXPECT_LE(lost, hit);
  RecordProperty("kills", hit);
  RecordProperty("lost", lost);
  EXPECT_EQ(pool.apply(square, 12), 144);
  EXPECT_TRUE(wait_until([&] { return pool.worker_pids().size() == 2u; }));
  pool.close();
  pool.join();
}

TEST_P(PoolDeath, RandomKillsDuringImapUnordered) {
#ifdef PYCONC_SANITIZED
  constexpr int kItems = 1500;
#else
  constexpr int kItems = 4000;
#endif
  constexpr int kKills = 6;
  mp::Pool pool = mp::get_context(GetParam()).Pool(2);
  std::vector<int> xs(kItems);
  for (int i = 0; i < kItems; ++i) xs[i] = i;
  auto it = pool.imap_unordered(slow_square, xs);
  std::atomic<int> consumed{0};
  int hit = 0;
  std::thread killer([&] { hit = kill_workers_during(pool, kKills, kItems, [&] { return consumed.load(); }); });

  std::set<int> got;
  int lost = 0;
  for (;;) {
    try {
      std::optional<int> v = it.next(60s);
      if (!v) break;
      got.insert(*v);
    } catch (const mp::WorkerLostError&) {
      ++lost;  // that item alone: the iteration goes on
    } catch (const std::exception& e) {
      ADD_FAILURE() << "after " << consumed.load() << " results: " << e.what();
      break;
    }
    ++consumed;
  }
  consumed.store(kItems);  // the killer stops waiting
  killer.join();
  EXPECT_LE(lost, hit);
  RecordProperty("kills", hit);
  RecordProperty("lost", lost);
  EXPECT_EQ(static_cast<int>(got.size()) + lost, kItems);
  for (int v : got) {
    int root = static_cast<int>(std::lround(std::sqrt(static_cast<double>(v))));
    EXPECT_EQ(root * root, v);
  }
  EXPECT_EQ(pool.apply(square, 11), 121);
  pool.close();
  pool.join();
}

// imap and imap_unordered: the item whose worker died raises WorkerLostError at its
// place, once, and the iteration goes on to its end.
TEST_P(PoolDeath, ImapGoesOnAfterALostItem) {
  mp::Pool pool = mp::get_context(GetParam()).Pool(2);
  std::vector<int> xs{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  auto ordered = pool.imap(square_or_die_at_4, xs);
  for (int i = 0; i < 10; ++i) {
    if (i == 4) {
      EXPECT_THROW(ordered.next(30s), mp::WorkerLostError);
      continue;
    }
    EXPECT_EQ(ordered.next(30s), i * i);
  }
  EXPECT_EQ(ordered.next(30s), std::nullopt);

  auto unordered = pool.imap_unordered(square_or_die_at_4, xs);
  std::set<int> got;
  int lost = 0;
  for (int i = 0; i < 10; ++i) {
    try {
      std::optional<int> v = unordered.next(30s);
      ASSERT_TRUE(v.has_value()) << "ended after " << i << " of 10 results";
      got.insert(*v);
    } catch (const mp::WorkerLostError&) {
      ++lost;
    }
  }
  EXPECT_EQ(lost, 1);
  EXPECT_EQ(got, (std::set<int>{0, 1, 4, 9, 25, 36, 49, 64, 81}));
  EXPECT_EQ(unordered.next(30s), std::nullopt);
  pool.close();
  pool.join();
}

// A worker killed while it sends a large result. The kill comes once this process has
// received part of it (its resident memory grew by an eighth of the result while the
// result is not ready: the collector has been copying it in); the result then fails
// with WorkerLostError, or arrives whole when the last byte won the race. Nothing
// hangs; the pool serves afterwards.
TEST_P(PoolDeath, KilledWhileSendingABigResult) {
#ifdef PYCONC_SANITIZED
  constexpr long long kBytes = 64ll << 20;
#else
  constexpr long long kBytes = 256ll << 20;
#endif
  mp::Pool pool = mp::get_context(GetParam()).Pool(1);
  int mid_transfer = 0, lost = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    ASSERT_TRUE(wait_until([&] { return pool.worker_pids().size() == 1u; }));
    int pid = pool.worker_pids()[0];
    mp::Event ready;
    long long base = resident_bytes();
    auto r = pool.apply_async(big_result, ready, kBytes);
    ASSERT_TRUE(ready.wait(60s));
    bool receiving = false;
    wait_until([&] {
      receiving = !r.ready() && resident_bytes() - base > kBytes / 8;
      return receiving || r.ready();
    }, 60s);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    if (receiving) ++mid_transfer;
    ASSERT_TRUE(r.wait(60s)) << "the result never ended";
    try {
      EXPECT_TRUE(big_result_ok(r.get(), kBytes));
    } catch (const mp::WorkerLostError& e) {
      ++lost;
      EXPECT_EQ(pid_in(e.what()), pid) << e.what();
      EXPECT_NE(std::string(e.what()).find("SIGKILL"), std::string::npos) << e.what();
    }
    EXPECT_EQ(pool.apply_async(square, attempt).get(30s), attempt * attempt);
    EXPECT_TRUE(all_gone({pid}));
  }
  RecordProperty("killed_mid_transfer", mid_transfer);
  RecordProperty("lost", lost);
  pool.close();
  pool.join();
}

// A worker killed while this process streams a large argument into it: the task had
// not started, so it runs in the replacement (or, had it started, fails with
// WorkerLostError); nothing hangs.
TEST_P(PoolDeath, KilledWhileReceivingABigArgument) {
#ifdef PYCONC_SANITIZED
  constexpr long long kBytes = 16ll << 20;
#else
  constexpr long long kBytes = 128ll << 20;
#endif
  mp::Pool pool = mp::get_context(GetParam()).Pool(1);
  std::string big(static_cast<std::size_t>(kBytes), 'z');
  for (int attempt = 0; attempt < 3; ++attempt) {
    ASSERT_TRUE(wait_until([&] { return pool.worker_pids().size() == 1u; }));
    int pid = pool.worker_pids()[0];
    auto r = pool.apply_async(length_of, big);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    ASSERT_TRUE(r.wait(60s)) << "the result never ended";
    try {
      EXPECT_EQ(r.get(), kBytes);
    } catch (const mp::WorkerLostError& e) {
      EXPECT_EQ(pid_in(e.what()), pid) << e.what();
    }
    EXPECT_EQ(pool.apply_async(length_of, std::string("abc")).get(30s), 3);
    EXPECT_TRUE(all_gone({pid}));
  }
  pool.close();
  pool.join();
}

TEST_P(PoolDeath, TerminateWhileTasksRun) {
  mp::Pool pool = mp::get_context(GetParam()).Pool(2);
  mp::Event release;
  std::vector<mp::Event> started(2);
  std::vector<mp::AsyncResult<int>> results;
  for (int i = 0; i < 2; ++i) results.push_back(pool.apply_async(hold, started[i], release, i));
  mp::Event unused;
  for (int i = 2; i < 10; ++i) results.push_back(pool.apply_async(hold, unused, release, i));
  for (auto& e : started) ASSERT_TRUE(e.wait(60s));
  std::vector<int> pids = pool.worker_pids();

  auto t0 = std::chrono::steady_clock::now();
  pool.terminate();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
  for (auto& r : results) {
    ASSERT_TRUE(r.wait(5s));
    try {
      r.get();
      ADD_FAILURE() << "a task of a terminated pool returned";
    } catch (const mp::WorkerLostError& e) {
      ADD_FAILURE() << "terminate() should fail results with ProcessError, not " << e.what();
    } catch (const mp::ProcessError& e) {
      EXPECT_NE(std::string(e.what()).find("terminated"), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(all_gone(pids));
  pool.join();
  EXPECT_THROW(pool.apply_async(square, 1), pyconc::ValueError);
}

TEST_P(PoolDeath, InitializerThatThrowsFailsResultsInsteadOfHanging) {
  mp::Pool pool = mp::get_context(GetParam()).Pool({.processes = 2, .initializer = failing_init});
  auto first = pool.apply_async(square, 3);
  ASSERT_TRUE(first.wait(60s)) << "a result of a pool whose initializer throws never ended";
  try {
    first.get();
    ADD_FAILURE() << "a task ran although the initializer threw";
  } catch (const mp::ProcessError& e) {
    EXPECT_NE(std::string(e.what()).find("no initialisation today"), std::string::npos) << e.what();
  }
  // Later calls fail the same way, at once.
  auto later = pool.apply_async(square, 4);
  ASSERT_TRUE(later.wait(10s));
  EXPECT_THROW(later.get(), mp::ProcessError);
  auto many = pool.map_async(square, std::vector<int>{1, 2, 3});
  ASSERT_TRUE(many.wait(10s));
  EXPECT_THROW(many.get(), mp::ProcessError);
  std::vector<int> pids = pool.worker_pids();
  pool.close();
  pool.join();
  EXPECT_TRUE(all_gone(pids));
}

INSTANTIATE_TEST_SUITE_P(Methods, PoolDeath, ::testing::ValuesIn(pyconc_test::start_methods()),
                         pyconc_test::method_name);

}  // namespace
