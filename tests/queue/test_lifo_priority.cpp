// Tests for queue::LifoQueue and queue::PriorityQueue (Python's queue.LifoQueue and
// queue.PriorityQueue).
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/futex.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <pyconc/errors.hpp>
#include <pyconc/queue.hpp>
#include <pyconc/threading.hpp>

#include "queue/queue_support.hpp"
#include "support.hpp"

namespace queue = pyconc::queue;
namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::Clock;
using pyconc_test::eventually;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;
using pyconc_test::DerefLess;
using pyconc_test::Ledger;
using pyconc_test::Tracked;
using pyconc_test::asleep_in_queue;

namespace {

/// A type with no operator<, ordered only through a custom comparison.
struct Job {
  std::string name;
  int cost;
};
struct CheaperFirst {
  bool operator()(const Job& a, const Job& b) const { return a.cost < b.cost; }
};

std::vector<int> shuffled(int n, unsigned seed) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = i;
  std::mt19937 rng(seed);
  std::shuffle(v.begin(), v.end(), rng);
  return v;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// LifoQueue

TEST(LifoQueue, LastInFirstOut) {
  for (long long maxsize : {0LL, -1LL, 10LL}) {
    queue::LifoQueue<int> q(maxsize);
    EXPECT_EQ(q.maxsize(), maxsize);
    for (int i = 0; i < 10; ++i) q.put(i);
    for (int i = 9; i >= 0; --i) EXPECT_EQ(q.get(), i);
    EXPECT_TRUE(q.empty());
  }
}

TEST(LifoQueue, InterleavedPutsAndGets) {
  queue::LifoQueue<int> q;
  q.put(1);
  q.put(2);
  EXPECT_EQ(q.get(), 2);
  q.put(3);
  q.put(4);
  EXPECT_EQ(q.get(), 4);
  EXPECT_EQ(q.get(), 3);
  q.put(5);
  EXPECT_EQ(q.get(), 5);
  EXPECT_EQ(q.get(), 1);
  EXPECT_THROW(q.get_nowait(), queue::Empty);
}

TEST(LifoQueue, ExactCapacityAndFull) {
  for (long long maxsize : {1LL, 3LL, 5LL, 1024LL}) {
    queue::LifoQueue<int> q(maxsize);
    for (long long i = 0; i < maxsize; ++i) {
      EXPECT_FALSE(q.full());
      q.put_nowait(static_cast<int>(i));
    }
    EXPECT_TRUE(q.full());
    EXPECT_EQ(q.qsize(), static_cast<std::size_t>(maxsize));
    EXPECT_THROW(q.put_nowait(-1), queue::Full);
    EXPECT_THROW(q.put(-1, false), queue::Full);
    EXPECT_FALSE(q.try_put(-1));
    EXPECT_EQ(q.get(), maxsize - 1);  // the newest comes out, never the rejected one
    q.put_nowait(-2);
    EXPECT_THROW(q.put_nowait(-3), queue::Full);
    EXPECT_EQ(q.get(), -2);
  }
}

TEST(LifoQueue, UnboundedNeverFull) {
  queue::LifoQueue<int> q;
  for (int i = 0; i < 50000; ++i) q.put_nowait(i);
  EXPECT_FALSE(q.full());
  EXPECT_EQ(q.qsize(), 50000u);
  EXPECT_EQ(q.get(), 49999);
}

TEST(LifoQueue, EmptyFullAndTimeouts) {
  queue::LifoQueue<int> q(1);
  EXPECT_THROW(q.get_nowait(), queue::Empty);
  EXPECT_THROW(q.get(false), queue::Empty);
  auto start = Clock::now();
  EXPECT_THROW(q.get(50ms), queue::Empty);
  double elapsed = seconds_since(start);
  EXPECT_GE(elapsed, 0.045);
  EXPECT_LT(elapsed, kPrompt);
  q.put(1);
  start = Clock::now();
  EXPECT_THROW(q.put(2, true, 50ms), queue::Full);
  elapsed = seconds_since(start);
  EXPECT_GE(elapsed, 0.045);
  EXPECT_LT(elapsed, kPrompt);
  EXPECT_THROW(q.put(2, -1s), pyconc::ValueError);
  EXPECT_THROW(q.get(true, -1s), pyconc::ValueError);
  EXPECT_THROW(q.put(2, false, -1s), queue::Full);  // block=false ignores the timeout
  EXPECT_EQ(q.get(false, -1s), 1);
}

TEST(LifoQueue, BlockedGetWokenByPutAndBlockedPutWokenByGet) {
  queue::LifoQueue<int> q(1);
  std::atomic<long> tid{0};
  std::atomic<int> got{-1};
  std::thread getter([&] {
    tid = gettid();
    got = q.get();
  });
  ASSERT_TRUE(eventually([&] { return asleep_in_queue(tid, q); }));
  q.put(7);
  getter.join();
  EXPECT_EQ(got.load(), 7);

  q.put(1);
  tid = 0;
  std::atomic<bool> put_done{false};
  std::thread putter([&] {
    tid = gettid();
    q.put(2, 30s);
    put_done = true;
  });
  ASSERT_TRUE(eventually([&] { return asleep_in_queue(tid, q); }));
  EXPECT_FALSE(put_done.load());
  EXPECT_EQ(q.get(), 1);
  putter.join();
  EXPECT_TRUE(put_done.load());
  EXPECT_EQ(q.get(), 2);
}

TEST(LifoQueue, TaskDoneAndJoin) {
  queue::LifoQueue<int> q;
  q.join();
  q.put(1);
  q.put(2);
  EXPECT_EQ(q.unfinished_tasks(), 2u);
  std::atomic<bool> joined{false};
  std::atomic<long> tid{0};
  std::thread joiner([&] {
    tid = gettid();
    q.join();
    joined = true;
  });
  q.get();
  q.task_done();
  q.get();
  EXPECT_TRUE(eventually([&] { return asleep_in_queue(tid, q); }));
  EXPECT_FALSE(joined.load());
  q.task_done();
  joiner.join();
  EXPECT_TRUE(joined.load());
  EXPECT_THROW(q.task_done(), pyconc::ValueError);
}

TEST(LifoQueue, MoveOnlyAndTryCalls) {
  queue::LifoQueue<std::unique_ptr<int>> q(2);
  q.put(std::make_unique<int>(1));
  q.put_nowait(std::make_unique<int>(2));
  auto extra = std::make_unique<int>(3);
  EXPECT_FALSE(q.try_put(std::move(extra)));
  ASSERT_NE(extra, nullptr);
  EXPECT_EQ(*extra, 3);
  EXPECT_EQ(*q.get(), 2);
  EXPECT_TRUE(q.try_put(std::move(extra)));
  EXPECT_EQ(extra, nullptr);
  EXPECT_EQ(**q.try_get(), 3);
  EXPECT_EQ(*q.get(1s), 1);
  EXPECT_EQ(q.try_get(), std::nullopt);
}

TEST(LifoQueue, NoLeakNoDoubleDestroy) {
  Ledger ledger;
  {
    queue::LifoQueue<Tracked> q(8);
    for (int i = 0; i < 8; ++i) q.put(Tracked(ledger, i));
    EXPECT_THROW(q.put_nowait(Tracked(ledger, 99)), queue::Full);
    EXPECT_EQ(q.get().value(), 7);
    EXPECT_EQ(q.get().value(), 6);
    EXPECT_EQ(ledger.live(), 6u);
  }
  EXPECT_EQ(ledger.live(), 0u);
  EXPECT_EQ(ledger.errors(), 0);
}

// ---------------------------------------------------------------------------------------
// PriorityQueue

TEST(PriorityQueue, SmallestFirst) {
  for (long long maxsize : {0LL, 100LL, 1000LL}) {
    queue::PriorityQueue<int> q(maxsize);
    EXPECT_EQ(q.maxsize(), maxsize);
    for (int x : shuffled(100, static_cast<unsigned>(maxsize) + 1)) q.put(x);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(q.get(), i);
    EXPECT_TRUE(q.empty());
  }
}

TEST(PriorityQueue, DuplicatesAndInterleaving) {
  queue::PriorityQueue<int> q;
  std::multiset<int> model;
  std::mt19937 rng(7);
  for (int step = 0; step < 5000; ++step) {
    if (model.empty() || rng() % 3 != 0) {
      int x = static_cast<int>(rng() % 50);
      q.put(x);
      model.insert(x);
    } else {
      int expected = *model.begin();
      model.erase(model.begin());
      ASSERT_EQ(q.get_nowait(), expected);
    }
    ASSERT_EQ(q.qsize(), model.size());
  }
  while (!model.empty()) {
    ASSERT_EQ(q.get(), *model.begin());
    model.erase(model.begin());
  }
}

TEST(PriorityQueue, PriorityDataPairsLikePythonTuples) {
  // Python: q.put((2, "code")); q.put((1, "eat")); ... — tuples compare element-wise.
  queue::PriorityQueue<std::pair<int, std::string>> q;
  q.put({2, "code"});
  q.put({1, "eat"});
  q.put({3, "sleep"});
  q.put({1, "coffee"});  // same priority: then by the data, as tuples do
  q.put({2, "bug"});
  EXPECT_EQ(q.get(), (std::pair<int, std::string>{1, "coffee"}));
  EXPECT_EQ(q.get(), (std::pair<int, std::string>{1, "eat"}));
  EXPECT_EQ(q.get(), (std::pair<int, std::string>{2, "bug"}));
  EXPECT_EQ(q.get(), (std::pair<int, std::string>{2, "code"}));
  EXPECT_EQ(q.get(), (std::pair<int, std::string>{3, "sleep"}));
  EXPECT_THROW(q.get_nowait(), queue::Empty);
}

TEST(PriorityQueue, TuplesToo) {
  queue::PriorityQueue<std::tuple<int, int, std::string>> q(4);
  q.put({1, 2, "b"});
  q.put({1, 1, "z"});
  q.put({0, 9, "a"});
  q.put({1, 1, "y"});
  EXPECT_TRUE(q.full());
  EXPECT_EQ(std::get<2>(q.get()), "a");
  EXPECT_EQ(std::get<2>(q.get()), "y");
  EXPECT_EQ(std::get<2>(q.get()), "z");
  EXPECT_EQ(std::get<2>(q.get()), "b");
}

TEST(PriorityQueue, CustomCompare) {
  queue::PriorityQueue<int, std::greater<int>> largest_first;
  for (int x : shuffled(20, 3)) largest_first.put(x);
  for (int i = 19; i >= 0; --i) EXPECT_EQ(largest_first.get(), i);

  queue::PriorityQueue<Job, CheaperFirst> jobs(3);
  jobs.put({"big", 10});
  jobs.put({"small", 1});
  jobs.put({"medium", 5});
  EXPECT_THROW(jobs.put_nowait({"tiny", 0}), queue::Full);
  EXPECT_EQ(jobs.get().name, "small");
  jobs.put({"tiny", 0});
  EXPECT_EQ(jobs.get().name, "tiny");
  EXPECT_EQ(jobs.get().name, "medium");
  EXPECT_EQ(jobs.get().name, "big");
}

TEST(PriorityQueue, MoveOnlyItems) {
  queue::PriorityQueue<std::unique_ptr<int>, DerefLess> q(3);
  q.put(std::make_unique<int>(30));
  q.put_nowait(std::make_unique<int>(10));
  q.put(std::make_unique<int>(20), 1s);
  auto extra = std::make_unique<int>(5);
  EXPECT_FALSE(q.try_put(std::move(extra)));
  ASSERT_NE(extra, nullptr);
  EXPECT_EQ(*q.get(), 10);
  EXPECT_TRUE(q.try_put(std::move(extra)));
  EXPECT_EQ(extra, nullptr);
  EXPECT_EQ(*q.get_nowait(), 5);
  EXPECT_EQ(*q.get(1s), 20);
  EXPECT_EQ(**q.try_get(), 30);
  EXPECT_EQ(q.try_get(), std::nullopt);
}

TEST(PriorityQueue, ExactCapacityAndErrors) {
  for (long long maxsize : {1LL, 3LL, 5LL, 1024LL}) {
    queue::PriorityQueue<int> q(maxsize);
    for (long long i = maxsize; i > 0; --i) q.put_nowait(static_cast<int>(i));
    EXPECT_TRUE(q.full());
    EXPECT_THROW(q.put_nowait(0), queue::Full);
    EXPECT_THROW(q.put(0, false), queue::Full);
    auto start = Clock::now();
    EXPECT_THROW(q.put(0, 50ms), queue::Full);
    EXPECT_GE(seconds_since(start), 0.045);
    EXPECT_EQ(q.get(), 1);  // the rejected 0 never got in
  }
  queue::PriorityQueue<int> q;
  auto start = Clock::now();
  EXPECT_THROW(q.get(true, 50ms), queue::Empty);
  double elapsed = seconds_since(start);
  EXPECT_GE(elapsed, 0.045);
  EXPECT_LT(elapsed, kPrompt);
  EXPECT_THROW(q.get(-1s), pyconc::ValueError);
  EXPECT_THROW(q.get(false, -1s), queue::Empty);
  q.put(1, -1s);  // unbounded: Python ignores the timeout of put
  EXPECT_EQ(q.get(), 1);
}

TEST(PriorityQueue, BlockedGetterGetsTheItemPut) {
  queue::PriorityQueue<int> q;
  std::atomic<long> tid{0};
  std::atomic<int> got{-1};
  std::thread getter([&] {
    tid = gettid();
    got = q.get(30s);
  });
  ASSERT_TRUE(eventually([&] { return asleep_in_queue(tid, q); }));
  q.put(3);
  getter.join();
  EXPECT_EQ(got.load(), 3);
}

TEST(PriorityQueue, BlockedPutterWokenByGet) {
  queue::PriorityQueue<int> q(2);
  q.put(5);
  q.put(6);
  std::atomic<long> tid{0};
  std::atomic<bool> put_done{false};
  std::thread putter([&] {
    tid = gettid();
    q.put(1);
    put_done = true;
  });
  ASSERT_TRUE(eventually([&] { return asleep_in_queue(tid, q); }));
  EXPECT_FALSE(put_done.load());
  EXPECT_EQ(q.get(), 5);
  putter.join();
  EXPECT_EQ(q.get(), 1);
  EXPECT_EQ(q.get(), 6);
}

TEST(PriorityQueue, TaskDoneAndJoin) {
  queue::PriorityQueue<int> q(4);
  q.join();
  for (int i = 0; i < 4; ++i) q.put(i);
  std::atomic<bool> joined{false};
  std::atomic<long> tid{0};
  std::thread joiner([&] {
    tid = gettid();
    q.join();
    joined = true;
  });
  for (int i = 0; i < 3; ++i) {
    q.get();
    q.task_done();
  }
  EXPECT_EQ(q.unfinished_tasks(), 1u);
  EXPECT_TRUE(eventually([&] { return asleep_in_queue(tid, q); }));
  EXPECT_FALSE(joined.load());
  EXPECT_EQ(q.get(), 3);
  q.task_done();
  joiner.join();
  EXPECT_TRUE(joined.load());
  EXPECT_THROW(q.task_done(), pyconc::ValueError);
  EXPECT_EQ(q.unfinished_tasks(), 0u);
}

TEST(PriorityQueue, NoLeakNoDoubleDestroy) {
  Ledger ledger;
  {
    queue::PriorityQueue<Tracked> q;
    for (int x : shuffled(64, 11)) q.put(Tracked(ledger, x));
    for (int i = 0; i < 20; ++i) EXPECT_EQ(q.get().value(), i);
    EXPECT_EQ(ledger.live(), 44u);
  }
  EXPECT_EQ(ledger.live(), 0u);
  EXPECT_EQ(ledger.errors(), 0);
}
