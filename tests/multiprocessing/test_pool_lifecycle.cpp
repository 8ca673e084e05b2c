// multiprocessing::Pool: close, terminate, join and the destructor, with Python's errors
// for the wrong order, and 1,000 pools made and destroyed leaving nothing behind.
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pool_support.hpp"
#include "support.hpp"

using namespace pool_test;
using pyconc_test::message_of;
using pyconc_test::seconds_since;

using pyconc_test::open_fds;

namespace {

/// The pids of this process's children, alive or zombie (from /proc/<pid>/stat).
std::set<int> child_pids() {
  std::set<int> kids;
  int me = static_cast<int>(::getpid());
  if (DIR* dir = ::opendir("/proc")) {
    while (dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
      std::ifstream stat(std::string("/proc/") + entry->d_name + "/stat");
      std::string line;
      if (!std::getline(stat, line)) continue;
      auto close_paren = line.rfind(')');  // the name may hold spaces and parentheses
      if (close_paren == std::string::npos) continue;
      char state = 0;
      int ppid = 0;
      if (std::sscanf(line.c_str() + close_paren + 1, " %c %d", &state, &ppid) == 2 && ppid == me)
        kids.insert(std::stoi(entry->d_name));
    }
    ::closedir(dir);
  }
  return kids;
}

bool process_gone(int pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

class PoolLifecycle : public MethodTest {};

TEST_P(PoolLifecycle, CallsAfterCloseRaisePoolNotRunning) {
  mp::Pool pool = make_pool();
  pool.close();
  auto xs = iota(3);
  EXPECT_EQ(message_of<pyconc::ValueError>([&] { pool.apply(square, 1); }), "Pool not running");
  EXPECT_EQ(message_of<pyconc::ValueError>([&] { pool.apply_async(square, 1); }), "Pool not running");
  EXPECT_EQ(message_of<pyconc::ValueError>([&] { pool.map(square, xs); }), "Pool not running");
  EXPECT_EQ(message_of<pyconc::ValueError>([&] { pool.map_async(square, xs); }), "Pool not running");
  EXPECT_EQ(message_of<pyconc::ValueError>([&] { pool.starmap(add2, std::vector<std::pair<int, int>>{{1, 2}}); }),
            "Pool not running");
  EXPECT_EQ(message_of<pyconc::ValueError>([&] { pool.imap(square, xs); }), "Pool not running");
  EXPECT_EQ(message_of<pyconc::ValueError>([&] { pool.imap_unordered(square, xs); }), "Pool not running");
  pool.join();
}

TEST_P(PoolLifecycle, CallsAfterTerminateRaisePoolNotRunning) {
  mp::Pool pool = make_pool();
  pool.terminate();
  EXPECT_EQ(message_of<pyconc::ValueError>([&] { pool.apply(square, 1); }), "Pool not running");
  EXPECT_THROW(pool.map(square, iota(3)), pyconc::ValueError);
  pool.join();
}

TEST_P(PoolLifecycle, JoinBeforeCloseIsAValueError) {
  mp::Pool pool = make_pool();
  EXPECT_EQ(message_of<pyconc::ValueError>([&] { pool.join(); }), "Pool is still running");
  EXPECT_EQ(pool.apply(square, 3), 9);  // the pool still serves
  pool.close();
  pool.join();
}

TEST_P(PoolLifecycle, CloseThenJoinLetsTheWorkFinish) {
  mp::Pool pool = make_pool();
  mp::Event gate;
  auto held = pool.apply_async(wait_then, gate, 7);
  std::vector<mp::AsyncResult<int>> rs;
  for (int i = 0; i < 40; ++i) rs.push_back(pool.apply_async(square, i));
  auto m = pool.map_async(square, iota(100), {.chunksize = 3});
  pool.close();
  EXPECT_FALSE(held.ready());  // close() does not wait
  gate.set();
  pool.join();
  EXPECT_TRUE(held.ready());
  EXPECT_EQ(held.get(), 7);
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(rs[static_cast<std::size_t>(i)].ready());
    EXPECT_EQ(rs[static_cast<std::size_t>(i)].get(), i * i);
  }
  ASSERT_TRUE(m.ready());
  EXPECT_EQ(m.get().size(), 100u);
  EXPECT_TRUE(pool.worker_pids().empty());
  pool.close();  // again: nothing happens
  pool.join();   // again: returns at once
}

TEST_P(PoolLifecycle, TerminateFailsPendingResultsWithProcessError) {
  mp::Pool pool = make_pool();
  mp::Event started, gate;  // the gate never opens
  auto running = pool.apply_async(signal_and_wait, started, gate, 1);
  std::vector<mp::AsyncResult<int>> queued;
  for (int i = 0; i < 10; ++i) queued.push_back(pool.apply_async(wait_then, gate, i));
  auto mapped = pool.map_async(wait_then_pair, std::vector<std::pair<mp::Event, int>>{{gate, 1}, {gate, 2}});
  auto it = pool.imap(wait_then_pair, std::vector<std::pair<mp::Event, int>>{{gate, 3}});
  ASSERT_TRUE(started.wait(kPatience));
  auto pids = pool.worker_pids();
  auto t0 = pyconc_test::Clock::now();
  pool.terminate();
  EXPECT_LT(seconds_since(t0), 10.0);
  EXPECT_THROW(running.get(kPatience), mp::ProcessError);
  for (auto& r : queued) EXPECT_THROW(r.get(kPatience), mp::ProcessError);
  EXPECT_THROW(mapped.get(kPatience), mp::ProcessError);
  EXPECT_THROW(it.next(kPatience), mp::ProcessError);
  EXPECT_FALSE(running.successful());
  pool.join();
  for (int pid : pids) EXPECT_TRUE(process_gone(pid)) << pid;
  pool.terminate();  // again: nothing happens
}

TEST_P(PoolLifecycle, TerminateAfterCloseFailsWhatIsLeft) {
  mp::Pool pool = make_pool();
  mp::Event started, gate;
  auto r = pool.apply_async(signal_and_wait, started, gate, 1);
  ASSERT_TRUE(started.wait(kPatience));
  pool.close();
  pool.terminate();
  EXPECT_THROW(r.get(kPatience), mp::ProcessError);
  pool.join();
}

TEST_P(PoolLifecycle, DestructorTerminatesALongTask) {
  std::optional<mp::AsyncResult<int>> r;
  std::vector<int> pids;
  mp::Event started, gate;  // the gate never opens: the task would wait kPatience
  double took = 0;
  {
    mp::Pool pool = make_pool();
    r = pool.apply_async(signal_and_wait, started, gate, 1);
    ASSERT_TRUE(started.wait(kPatience));
    pids = pool.worker_pids();
    auto t0 = pyconc_test::Clock::now();
    {
      mp::Pool gone = std::move(pool);  // a moved-from Pool is destroyed too, harmlessly
    }
    took = seconds_since(t0);
  }
  EXPECT_LT(took, 10.0);
  ASSERT_TRUE(r->wait(kPatience));
  EXPECT_THROW(r->get(), mp::ProcessError);
  for (int pid : pids) EXPECT_TRUE(process_gone(pid)) << pid;
}

TEST_P(PoolLifecycle, ResultsOutliveThePool) {
  std::optional<mp::AsyncResult<int>> r;
  {
    mp::Pool pool = make_pool();
    r = pool.apply_async(square, 12);
    r->wait();
  }
  EXPECT_EQ(r->get(), 144);
}

POOL_TEST_METHODS(PoolLifecycle);

TEST(PoolLifecycleErrors, ProcessesBelowOneIsAValueError) {
  std::string expect = "Number of processes must be at least 1";
  EXPECT_EQ(message_of<pyconc::ValueError>([] { mp::Pool pool(0); }), expect);
  EXPECT_EQ(message_of<pyconc::ValueError>([] { mp::Pool pool(-2); }), expect);
  EXPECT_EQ(message_of<pyconc::ValueError>([] { mp::Pool pool(mp::PoolOptions{.processes = 0}); }), expect);
  EXPECT_EQ(message_of<pyconc::ValueError>([] { mp::get_context("spawn").Pool(0); }), expect);
}

TEST(PoolLifecycleErrors, MaxtasksperchildBelowOneIsAValueError) {
  std::string expect = "maxtasksperchild must be a positive int or None";
  EXPECT_EQ(message_of<pyconc::ValueError>([] { mp::Pool pool({.processes = 1, .maxtasksperchild = 0}); }), expect);
  EXPECT_EQ(message_of<pyconc::ValueError>([] { mp::Pool pool({.processes = 1, .maxtasksperchild = -1}); }), expect);
}

TEST(PoolLifecycleLeaks, AThousandPoolsLeaveNothingBehind) {
  constexpr int kPools = 1000;  // about 2.5 s in release, 15 s under ThreadSanitizer
  auto ctx = mp::get_context("fork");
  {  // machinery made once per program (the resource tracker) exists before the count
    mp::Pool warm = ctx.Pool(2);
    EXPECT_EQ(warm.apply(square, 2), 4);
  }
  auto fds_before = open_fds();
  auto kids_before = child_pids();
  auto t0 = pyconc_test::Clock::now();
  for (int i = 0; i < kPools; ++i) {
    mp::Pool pool = ctx.Pool(2);
    ASSERT_EQ(pool.apply(square, i), i * i);
    if (i % 2 == 0) {  // half end by close() and join(), half by the destructor
      pool.close();
      pool.join();
    }
  }
  double took = seconds_since(t0);
  std::printf("[ figures  ] %d pools (fork, 2 processes, one apply each) made and destroyed in %.2f s\n", kPools,
              took);
  std::set<int> leaked;
  for (int fd : open_fds())
    if (!fds_before.count(fd) && !pyconc_test::allowed_fd(fd)) leaked.insert(fd);
  EXPECT_TRUE(leaked.empty()) << "fds left: " << leaked.size() << ", e.g. " << *leaked.begin() << " -> "
                              << pyconc_test::fd_target(*leaked.begin());
  EXPECT_EQ(child_pids(), kids_before);
  EXPECT_TRUE(mp::active_children().empty());
  EXPECT_TRUE(pyconc_test::family_segments().empty());
}

}  // namespace
