// Tests for queue::SimpleQueue (Python's queue.SimpleQueue).
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/futex.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
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
using pyconc_test::asleep_in_futex;
using pyconc_test::eventually;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;
using pyconc_test::Ledger;
using pyconc_test::Tracked;

namespace {

// SimpleQueue has Python's SimpleQueue surface: no maxsize, no task accounting, no
// shutdown.
template <class Q>
concept HasTaskDone = requires(Q& q) { q.task_done(); };
template <class Q>
concept HasJoin = requires(Q& q) { q.join(); };
template <class Q>
concept HasShutdown = requires(Q& q) { q.shutdown(); };
template <class Q>
concept HasFull = requires(Q& q) { q.full(); };
static_assert(!HasTaskDone<queue::SimpleQueue<int>>);
static_assert(!HasJoin<queue::SimpleQueue<int>>);
static_assert(!HasShutdown<queue::SimpleQueue<int>>);
static_assert(!HasFull<queue::SimpleQueue<int>>);
static_assert(HasTaskDone<queue::Queue<int>>);

}  // namespace

TEST(SimpleQueue, FirstInFirstOut) {
  queue::SimpleQueue<int> q;
  for (int i = 0; i < 100; ++i) q.put(i);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(q.get(), i);
  q.put(1);
  q.put(2);
  EXPECT_EQ(q.get(), 1);
  q.put(3);
  EXPECT_EQ(q.get(), 2);
  EXPECT_EQ(q.get(), 3);
}

TEST(SimpleQueue, PutNeverBlocks) {
  queue::SimpleQueue<int> q;
  auto start = Clock::now();
  for (int i = 0; i < 100000; ++i) q.put(i);
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_EQ(q.qsize(), 100000u);
  for (int i = 0; i < 100000; ++i) ASSERT_EQ(q.get_nowait(), i);
}

TEST(SimpleQueue, PutAcceptsAndIgnoresBlockAndTimeout) {
  // Python: SimpleQueue.put(item, block=True, timeout=None) ignores both (they exist for
  // compatibility with Queue.put).
  queue::SimpleQueue<int> q;
  auto start = Clock::now();
  q.put(1, false);
  q.put(2, false, 1s);
  q.put(3, true, 1s);
  q.put(4, true, -1s);  // not even a negative timeout is an error
  q.put(5, false, -1s);
  q.put_nowait(6);
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_EQ(q.qsize(), 6u);
  for (int i = 1; i <= 6; ++i) EXPECT_EQ(q.get(), i);
}

TEST(SimpleQueue, GetOnEmpty) {
  queue::SimpleQueue<int> q;
  EXPECT_THROW(q.get_nowait(), queue::Empty);
  EXPECT_THROW(q.get(false), queue::Empty);
  EXPECT_THROW(q.get(false, 10s), queue::Empty);
  EXPECT_THROW(q.get(false, -1s), queue::Empty);  // block=false: the timeout is ignored
  EXPECT_EQ(q.try_get(), std::nullopt);
  {
    auto start = Clock::now();
    EXPECT_THROW(q.get(50ms), queue::Empty);
    double elapsed = seconds_since(start);
    EXPECT_GE(elapsed, 0.045);
    EXPECT_LT(elapsed, kPrompt);
  }
  {
    auto start = Clock::now();
    EXPECT_THROW(q.get(true, 50ms), queue::Empty);
    double elapsed = seconds_since(start);
    EXPECT_GE(elapsed, 0.045);
    EXPECT_LT(elapsed, kPrompt);
  }
  {
    auto start = Clock::now();
    EXPECT_THROW(q.get(0s), queue::Empty);
    EXPECT_LT(seconds_since(start), kPrompt);
  }
}

TEST(SimpleQueue, NegativeGetTimeoutRaisesValueError) {
  queue::SimpleQueue<int> q;
  EXPECT_THROW(q.get(-1s), pyconc::ValueError);
  EXPECT_THROW(q.get(true, -0.5s), pyconc::ValueError);
}

TEST(SimpleQueue, GetVariantsReturnItems) {
  queue::SimpleQueue<std::string> q;
  q.put("a");
  q.put("b");
  q.put("c");
  q.put("d");
  q.put("e");
  EXPECT_EQ(q.get(), "a");
  EXPECT_EQ(q.get(false), "b");
  EXPECT_EQ(q.get(true, 1s), "c");
  EXPECT_EQ(q.get(1s), "d");
  EXPECT_EQ(q.get_nowait(), "e");
}

TEST(SimpleQueue, QsizeAndEmpty) {
  queue::SimpleQueue<int> q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.qsize(), 0u);
  q.put(1);
  q.put(2);
  EXPECT_FALSE(q.empty());
  EXPECT_EQ(q.qsize(), 2u);
  q.get();
  EXPECT_EQ(q.qsize(), 1u);
  q.get();
  EXPECT_TRUE(q.empty());
}

TEST(SimpleQueue, BlockedGetIsWokenByPut) {
  queue::SimpleQueue<int> q;
  std::atomic<long> tid{0};
  std::atomic<int> got{-1};
  threading::Thread getter([&] {
    tid = gettid();
    got = q.get();
  });
  getter.start();
  ASSERT_TRUE(eventually([&] { return asleep_in_futex(tid.load(), &q, sizeof q); }));
  EXPECT_EQ(got.load(), -1);
  q.put(11);
  getter.join();
  EXPECT_EQ(got.load(), 11);
}

TEST(SimpleQueue, TimedGetSucceedsBeforeTheTimeout) {
  queue::SimpleQueue<int> q;
  std::atomic<long> tid{0};
  std::atomic<int> got{-1};
  double waited = 0;
  std::thread getter([&] {
    tid = gettid();
    auto start = Clock::now();
    got = q.get(true, 30s);
    waited = seconds_since(start);
  });
  ASSERT_TRUE(eventually([&] { return asleep_in_futex(tid.load(), &q, sizeof q); }));
  q.put(12);
  getter.join();
  EXPECT_EQ(got.load(), 12);
  EXPECT_LT(waited, kPrompt);
}

TEST(SimpleQueue, MoveOnlyItemsAndTryCalls) {
  queue::SimpleQueue<std::unique_ptr<int>> q;
  q.put(std::make_unique<int>(1));
  q.put_nowait(std::make_unique<int>(2));
  auto three = std::make_unique<int>(3);
  EXPECT_TRUE(q.try_put(std::move(three)));
  EXPECT_EQ(three, nullptr);
  EXPECT_EQ(*q.get(), 1);
  EXPECT_EQ(*q.get_nowait(), 2);
  auto got = q.try_get();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(**got, 3);
  EXPECT_EQ(q.try_get(), std::nullopt);
  const std::string s = "copied";
  queue::SimpleQueue<std::string> strings;
  EXPECT_TRUE(strings.try_put(s));
  EXPECT_EQ(s, "copied");
  EXPECT_EQ(strings.get(), "copied");
}

TEST(SimpleQueue, NoLeakNoDoubleDestroy) {
  Ledger ledger;
  {
    queue::SimpleQueue<Tracked> q;
    for (int i = 0; i < 30; ++i) q.put(Tracked(ledger, i));
    for (int i = 0; i < 10; ++i) EXPECT_EQ(q.get().value(), i);
    EXPECT_EQ(ledger.live(), 20u);
  }
  EXPECT_EQ(ledger.live(), 0u);
  EXPECT_EQ(ledger.errors(), 0);
}

TEST(SimpleQueue, ManyProducersManyConsumers) {
  queue::SimpleQueue<int> q;
  constexpr int kProducers = 3, kConsumers = 3, kEach = 5000;
  std::vector<std::atomic<int>> seen(kProducers * kEach);
  std::atomic<long long> sum{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < kEach; ++i) q.put(p * kEach + i);
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      for (;;) {
        int x = q.get();
        if (x < 0) return;
        seen[x].fetch_add(1);
        sum.fetch_add(x);
      }
    });
  }
  for (int p = 0; p < kProducers; ++p) threads[p].join();
  for (int c = 0; c < kConsumers; ++c) q.put(-1);
  for (int c = 0; c < kConsumers; ++c) threads[kProducers + c].join();
  long long n = kProducers * kEach;
  EXPECT_EQ(sum.load(), n * (n - 1) / 2);
  for (long long i = 0; i < n; ++i) ASSERT_EQ(seen[i].load(), 1) << i;
  EXPECT_TRUE(q.empty());
}
