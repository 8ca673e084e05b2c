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

class PoolDeath : public ::testing::TestWithParam<std::string> {};

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
