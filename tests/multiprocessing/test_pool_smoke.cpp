#include <gtest/gtest.h>
#include <pyconc/multiprocessing.hpp>
#include <csignal>
#include <unistd.h>

namespace mp = pyconc::multiprocessing;
using namespace std::chrono_literals;

static int square(int x) { return x * x; }
static int fail_on(int x) { if (x == 3) throw pyconc::ValueError("three"); return x; }
static int die_on(int x) { if (x == 5) ::raise(SIGKILL); return x; }

TEST(PoolSmoke, ApplyMapImap) {
  for (const char* method : {"fork", "spawn", "forkserver"}) {
    auto ctx = mp::get_context(method);
    mp::Pool pool = ctx.Pool(2);
    EXPECT_EQ(pool.apply(square, 7), 49) << method;
    auto r = pool.apply_async(square, 8);
    EXPECT_EQ(r.get(10s), 64);
    std::vector<int> xs;
    for (int i = 0; i < 1000; ++i) xs.push_back(i);
    auto m = pool.map(square, xs, {.chunksize = 7});
    ASSERT_EQ(m.size(), 1000u);
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(m[i], i * i);
    int k = 0;
    for (int v : pool.imap(square, xs)) { EXPECT_EQ(v, k * k); ++k; }
    EXPECT_EQ(k, 1000);
    EXPECT_THROW(pool.apply(fail_on, 3), pyconc::ValueError);
    pool.close();
    pool.join();
  }
}

TEST(PoolSmoke, DeadWorkerFailsOnlyItsTask) {
  mp::Pool pool(2);
  std::vector<mp::AsyncResult<int>> rs;
  for (int i = 0; i < 10; ++i) rs.push_back(pool.apply_async(die_on, i));
  for (int i = 0; i < 10; ++i) {
    if (i == 5) EXPECT_THROW(rs[i].get(20s), mp::WorkerLostError);
    else EXPECT_EQ(rs[i].get(20s), i);
  }
  EXPECT_EQ(pool.apply(square, 3), 9);
}

TEST(PoolSmoke, OptionsAfterTheFunction) {
  mp::Pool pool(2);
  std::vector<int> xs{1, 2, 3};
  EXPECT_EQ(pool.map(square, {.chunksize = 2}, xs), (std::vector{1, 4, 9}));
  EXPECT_EQ(pool.map_async(square, {.chunksize = 1}, xs).get(10s), (std::vector{1, 4, 9}));
  int n = 0;
  for (int v : pool.imap(square, {.chunksize = 2}, xs)) n += v;
  EXPECT_EQ(n, 14);
}
