// multiprocessing::Pool's options: processes (default cpu_count()), initializer and
// initargs, maxtasksperchild (workers recycled), context (ctx.Pool and .context bind the
// start method; the workers' names), and worker_pids().
#include <algorithm>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "pool_support.hpp"
#include "support.hpp"

using namespace pool_test;
using pyconc_test::message_of;

namespace {

// What an initializer leaves in a worker, for its tasks to report.
std::string g_greeting = "unset";
int g_level = 0;

void set_greeting(std::string greeting, int level) {
  g_greeting = std::move(greeting);
  g_level = level;
}
void set_level_only() { g_level = 99; }
std::string greeting() { return g_greeting + "/" + std::to_string(g_level); }
std::string greeting_of(int) { return greeting(); }

std::string name_prefix(const std::string& method) {
  if (method == "spawn") return "SpawnPoolWorker-";
  if (method == "forkserver") return "ForkServerPoolWorker-";
  return "ForkPoolWorker-";
}

class PoolOptionsByMethod : public MethodTest {};

TEST_P(PoolOptionsByMethod, InitializerRunsInEveryWorkerWithItsArguments) {
  mp::Pool pool({.processes = 2,
                 .initializer = set_greeting,
                 .initargs = std::tuple<std::string, int>{"hello", 3},
                 .context = ctx()});
  EXPECT_EQ(pool.apply(greeting), "hello/3");
  for (const std::string& g : pool.map(greeting_of, iota(50), {.chunksize = 1})) EXPECT_EQ(g, "hello/3");
  EXPECT_EQ(g_greeting, "unset");  // it ran in the workers, not here
}

TEST_P(PoolOptionsByMethod, InitializerWithoutArgumentsAndALambda) {
  mp::Pool plain({.processes = 1, .initializer = set_level_only, .context = ctx()});
  EXPECT_EQ(plain.apply(greeting), "unset/99");
  mp::Pool lambda({.processes = 1,
                   .initializer = +[](int level) { g_level = level; },
                   .initargs = std::tuple{7},
                   .context = ctx()});
  EXPECT_EQ(lambda.apply(greeting), "unset/7");
}

TEST_P(PoolOptionsByMethod, InitializerRunsAgainInReplacementWorkers) {
  mp::Pool pool({.processes = 1,
                 .initializer = set_greeting,
                 .initargs = std::tuple<std::string, int>{"again", 1},
                 .maxtasksperchild = 1,
                 .context = ctx()});
  std::set<int> pids;
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(pool.apply(greeting), "again/1");
    pids.insert(pool.apply(worker_pid));
  }
  EXPECT_EQ(pids.size(), 4u);
}

TEST_P(PoolOptionsByMethod, MaxtasksperchildRecyclesWorkers) {
  constexpr int kTasks = 40, kPerChild = 2;
  mp::Pool pool({.processes = 2, .maxtasksperchild = kPerChild, .context = ctx()});
  std::vector<mp::AsyncResult<int>> rs;
  for (int i = 0; i < kTasks; ++i) rs.push_back(pool.apply_async(worker_pid));
  std::set<int> pids;
  for (auto& r : rs) pids.insert(r.get(kPatience));  // no task lost
  EXPECT_GE(pids.size(), static_cast<std::size_t>(kTasks / kPerChild));
  // map's chunks count as tasks too: 30 chunks of 1, 2 per worker.
  std::set<int> map_pids;
  for (int pid : pool.map(worker_pid_of, iota(30), {.chunksize = 1})) map_pids.insert(pid);
  EXPECT_GE(map_pids.size(), 15u);
  for (int pid : map_pids) EXPECT_EQ(pids.count(pid), 0u) << "a worker ran more than its quota";
  // A retired worker's replacement is started by the pool's own thread, maybe still now.
  EXPECT_TRUE(pyconc_test::eventually([&] { return pool.worker_pids().size() == 2; }, 30s));
  pool.close();
  pool.join();
}

TEST_P(PoolOptionsByMethod, ContextPoolBindsTheStartMethod) {
  mp::Pool pool = ctx().Pool(2);
  std::string name = pool.apply(worker_name);
  std::string prefix = name_prefix(GetParam());
  EXPECT_EQ(name.rfind(prefix, 0), 0u) << name;
  EXPECT_GT(std::stoi(name.substr(prefix.size())), 0) << name;
  mp::Pool by_option({.processes = 1, .context = ctx()});
  EXPECT_EQ(by_option.apply(worker_name).rfind(prefix, 0), 0u);
}

TEST_P(PoolOptionsByMethod, WorkerPidsAreTheWorkers) {
  mp::Pool pool = ctx().Pool(3);
  EXPECT_EQ(pool.processes(), 3);
  auto pids = pool.worker_pids();
  ASSERT_EQ(pids.size(), 3u);
  EXPECT_EQ(std::set<int>(pids.begin(), pids.end()).size(), 3u);
  EXPECT_EQ(std::count(pids.begin(), pids.end(), static_cast<int>(::getpid())), 0);
  for (int pid : pool.map(worker_pid_of, iota(60), {.chunksize = 1}))
    EXPECT_NE(std::find(pids.begin(), pids.end(), pid), pids.end()) << pid;
}

POOL_TEST_METHODS(PoolOptionsByMethod);

TEST(PoolOptions, DefaultProcessesIsCpuCount) {
  mp::Pool pool;
  EXPECT_EQ(pool.processes(), mp::cpu_count());
  EXPECT_EQ(static_cast<int>(pool.worker_pids().size()), mp::cpu_count());
  mp::Pool by_options(mp::PoolOptions{});
  EXPECT_EQ(by_options.processes(), mp::cpu_count());
  mp::Pool by_context = mp::get_context("fork").Pool();
  EXPECT_EQ(by_context.processes(), mp::cpu_count());
}

TEST(PoolOptions, DefaultContextIsTheGlobalOne) {
  mp::Pool pool(1);
  EXPECT_EQ(pool.apply(worker_name).rfind(name_prefix(mp::get_start_method()), 0), 0u);
}

TEST(PoolOptions, InitargsThatDoNotFitAreAValueErrorAtConstruction) {
  auto mismatch = [] {
    mp::Pool pool({.processes = 1, .initializer = set_greeting, .initargs = std::tuple<int, int>{1, 2}});
  };
  EXPECT_THROW(mismatch(), pyconc::ValueError);
  auto missing = [] { mp::Pool pool({.processes = 1, .initializer = set_greeting}); };
  EXPECT_THROW(missing(), pyconc::ValueError);
  auto orphan = [] { mp::Pool pool({.processes = 1, .initargs = std::tuple{1}}); };
  EXPECT_EQ(message_of<pyconc::ValueError>(orphan), "initargs were given without an initializer");
  EXPECT_TRUE(mp::active_children().empty());  // no worker was started
}

}  // namespace
