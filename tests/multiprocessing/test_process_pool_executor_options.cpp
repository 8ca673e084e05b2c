// futures::ProcessPoolExecutor beyond the shared Executor suite: its options and
// Python's errors for bad ones, max_tasks_per_child recycling workers, submit() through
// the Executor base, map() with chunks, several ranges and a timeout.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include <pyconc/errors.hpp>
#include <pyconc/multiprocessing.hpp>

#include "mp_support.hpp"
#include "pool_death_support.hpp"

namespace futures = pyconc::futures;
namespace mp = pyconc::multiprocessing;
using namespace std::chrono_literals;
using namespace pyconc_test::death;

namespace {

int wait_release(mp::Event release, int x) {
  release.wait(60s);
  return x;
}

int fail_on_five(int x) {
  if (x == 5) throw pyconc::KeyError("five");
  return x;
}

futures::ProcessPoolOptions in(const std::string& method) { return {.mp_context = mp::get_context(method)}; }

std::string value_error_of(auto make) {
  try {
    make();
  } catch (const pyconc::ValueError& e) {
    return e.what();
  }
  return "(no ValueError)";
}

TEST(ProcessPoolOptions, BadMaxWorkersRaiseValueError) {
  EXPECT_THROW(futures::ProcessPoolExecutor(0), pyconc::ValueError);
  EXPECT_THROW(futures::ProcessPoolExecutor(-2), pyconc::ValueError);
  EXPECT_NE(value_error_of([] { futures::ProcessPoolExecutor ex(0); }).find("max_workers must be greater than 0"),
            std::string::npos);
}

TEST(ProcessPoolOptions, BadMaxTasksPerChildRaisesValueError) {
  for (long long bad : {0LL, -1LL}) {
    std::string m = value_error_of([bad] {
      futures::ProcessPoolExecutor ex(2, {.mp_context = mp::get_context("spawn"), .max_tasks_per_child = bad});
    });
    EXPECT_NE(m.find("max_tasks_per_child must be >= 1"), std::string::npos) << m;
  }
}

TEST(ProcessPoolOptions, MaxTasksPerChildIsIncompatibleWithFork) {
  std::string m = value_error_of([] {
    futures::ProcessPoolExecutor ex(2, {.mp_context = mp::get_context("fork"), .max_tasks_per_child = 3});
  });
  EXPECT_EQ(m,
            "max_tasks_per_child is incompatible with the 'fork' multiprocessing start method; supply a different "
            "mp_context.");
}

TEST(ProcessPoolOptions, InitargsThatDoNotFitTheInitializerRaiseValueError) {
  auto init = [](int) {};
  EXPECT_THROW(futures::ProcessPoolExecutor(1, {.initializer = +init, .initargs = std::tuple<std::string>{"x"}}),
               pyconc::ValueError);
  EXPECT_THROW(futures::ProcessPoolExecutor(1, {.initargs = std::tuple<int>{1}}), pyconc::ValueError);
}

TEST(ProcessPoolOptions, SubmitThroughTheExecutorBaseRaisesRuntimeError) {
  futures::ProcessPoolExecutor ex(1, in("fork"));
  futures::Executor& base = ex;
  EXPECT_THROW(base.submit([] { return 1; }), pyconc::RuntimeError);
  EXPECT_THROW(base.submit(square, 2), pyconc::RuntimeError);
  // The executor itself is unharmed.
  EXPECT_EQ(ex.submit(square, 3).result(30s), 9);
}

TEST(ProcessPoolOptions, WorkersStartWithTheFirstSubmit) {
  futures::ProcessPoolExecutor ex(2, in("fork"));
  EXPECT_TRUE(ex.worker_pids().empty());
  EXPECT_EQ(ex.submit(square, 4).result(30s), 16);
  EXPECT_TRUE(wait_until([&] { return ex.worker_pids().size() == 2u; }));
}

// ---- per start method ----

class ProcessPoolRecycling : public ::testing::TestWithParam<std::string> {};

TEST_P(ProcessPoolRecycling, MaxTasksPerChildReplacesWorkersAndLosesNothing) {
  constexpr int kTasks = 24;
  futures::ProcessPoolExecutor ex(2, {.mp_context = mp::get_context(GetParam()), .max_tasks_per_child = 2});
  std::vector<futures::Future<int>> fs;
  for (int i = 0; i < kTasks; ++i) fs.push_back(ex.submit(own_pid));
  std::multiset<int> per_pid;
  for (auto& f : fs) per_pid.insert(f.result(60s));
  std::set<int> distinct(per_pid.begin(), per_pid.end());
  EXPECT_GE(distinct.size(), static_cast<std::size_t>(kTasks / 2));
  for (int pid : distinct) EXPECT_LE(per_pid.count(pid), 2u) << "worker " << pid << " ran more than 2 tasks";
  // map goes through the recycled workers too.
  std::vector<int> xs{1, 2, 3, 4, 5, 6, 7};
  std::vector<int> squares = ex.map(square, xs).to_vector();
  EXPECT_EQ(squares, (std::vector<int>{1, 4, 9, 16, 25, 36, 49}));
  ex.shutdown();
  std::vector<int> pids(distinct.begin(), distinct.end());
  EXPECT_TRUE(all_gone(pids));
}

INSTANTIATE_TEST_SUITE_P(Methods, ProcessPoolRecycling, ::testing::Values("spawn", "forkserver"),
                         pyconc_test::method_name);

class ProcessPoolMap : public ::testing::TestWithParam<std::string> {};

TEST_P(ProcessPoolMap, ChunksizeAboveOneKeepsTheOrder) {
  futures::ProcessPoolExecutor ex(2, in(GetParam()));
  std::vector<int> xs;
  for (int i = 0; i < 101; ++i) xs.push_back(i);
  for (int chunksize : {1, 4, 7, 100, 500}) {
    auto results = ex.map(square, {.chunksize = chunksize}, xs);
    EXPECT_EQ(results.size(), xs.size());
    int i = 0;
    for (int v : results) {
      EXPECT_EQ(v, i * i) << "chunksize " << chunksize;
      ++i;
    }
    EXPECT_EQ(i, 101);
  }
  EXPECT_THROW(ex.map(square, {.chunksize = 0}, xs), pyconc::ValueError);
}

TEST_P(ProcessPoolMap, SeveralRangesZipToTheShortest) {
  futures::ProcessPoolExecutor ex(2, in(GetParam()));
  std::vector<int> xs{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  std::vector<int> ys{100, 200, 300, 400, 500, 600, 700};
  std::vector<int> sums = ex.map(add, {.chunksize = 3}, xs, ys).to_vector();
  EXPECT_EQ(sums, (std::vector<int>{101, 202, 303, 404, 505, 606, 707}));
  EXPECT_TRUE(ex.map(add, {.chunksize = 2}, xs, std::vector<int>{}).to_vector().empty());
}

TEST_P(ProcessPoolMap, AFailingElementRethrowsAtItsChunk) {
  futures::ProcessPoolExecutor ex(2, in(GetParam()));
  std::vector<int> xs{0, 1, 2, 3, 4, 5, 6, 7, 8};
  auto results = ex.map(fail_on_five, {.chunksize = 3}, xs);
  auto it = results.begin();
  for (int i = 0; i < 3; ++i, ++it) EXPECT_EQ(*it, i);
  EXPECT_THROW(*it, pyconc::KeyError);  // element 3: its chunk {3, 4, 5} failed
}

TEST_P(ProcessPoolMap, TimeoutRaisesFuturesTimeoutError) {
  futures::ProcessPoolExecutor ex(2, in(GetParam()));
  mp::Event release;
  std::vector<mp::Event> events(6, release);
  std::vector<int> xs{0, 1, 2, 3, 4, 5};
  {
    auto t0 = std::chrono::steady_clock::now();
    auto results = ex.map(wait_release, {.timeout = 300ms, .chunksize = 2}, events, xs);
    auto it = results.begin();
    EXPECT_THROW(*it, futures::TimeoutError);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
  }
  release.set();
  // The timeout counts from the call: a map whose work is done in time returns it all.
  auto results = ex.map(wait_release, {.timeout = 30s, .chunksize = 2}, events, xs);
  EXPECT_EQ(results.to_vector(), xs);
}

INSTANTIATE_TEST_SUITE_P(Methods, ProcessPoolMap, ::testing::ValuesIn(pyconc_test::start_methods()),
                         pyconc_test::method_name);

}  // namespace
