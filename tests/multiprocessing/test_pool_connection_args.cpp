// A Connection as an argument of a pool task, under every start method: its fds travel
// to the worker with the task (SCM_RIGHTS), as a Process argument's do with the launch.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <pyconc/multiprocessing.hpp>

#include "mp_support.hpp"

namespace mp = pyconc::multiprocessing;
using namespace std::chrono_literals;

namespace {

int echo_through(mp::Connection conn, int x) {
  conn.send(x * 10);
  return conn.recv<int>();
}

class PoolConnectionArgs : public ::testing::TestWithParam<const char*> {};

TEST_P(PoolConnectionArgs, ATaskTalksOverAPipeItWasGiven) {
  mp::Pool pool = mp::get_context(GetParam()).Pool(2);
  auto [mine, theirs] = mp::Pipe();
  auto r = pool.apply_async(echo_through, theirs, 4);
  EXPECT_EQ(mine.recv<int>(), 40);
  mine.send(7);
  EXPECT_EQ(r.get(30s), 7);
  // Many tasks, each with its own pipe: no fd is lost or crossed.
  std::vector<std::pair<mp::Connection, mp::Connection>> pipes;
  std::vector<mp::AsyncResult<int>> results;
  for (int i = 0; i < 20; ++i) {
    pipes.push_back(mp::Pipe());
    results.push_back(pool.apply_async(echo_through, pipes.back().second, i));
  }
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(pipes[i].first.recv<int>(), i * 10);
    pipes[i].first.send(i + 1000);
  }
  for (int i = 0; i < 20; ++i) EXPECT_EQ(results[i].get(30s), i + 1000);
  pool.close();
  pool.join();
}

TEST_P(PoolConnectionArgs, TheExecutorToo) {
  pyconc::futures::ProcessPoolExecutor ex(1, {.mp_context = mp::get_context(GetParam())});
  auto [mine, theirs] = mp::Pipe();
  auto f = ex.submit(echo_through, theirs, 5);
  EXPECT_EQ(mine.recv<int>(), 50);
  mine.send(9);
  EXPECT_EQ(f.result(30s), 9);
}

INSTANTIATE_TEST_SUITE_P(Methods, PoolConnectionArgs, ::testing::Values("fork", "spawn", "forkserver"));

}  // namespace
