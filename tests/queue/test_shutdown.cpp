// Tests for Python 3.13's Queue.shutdown(immediate) on queue::Queue (bounded and
// unbounded), queue::LifoQueue and queue::PriorityQueue: the state, put and get after
// shutdown, and what becomes of the items. Blocked callers: test_shutdown_wakeups.cpp.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/futex.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
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

#include "queue/held_move.hpp"
#include "queue/queue_support.hpp"
#include "queue/shutdown_support.hpp"
#include "support.hpp"

namespace queue = pyconc::queue;
namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::Clock;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;

using pyconc_test::Kinds;
using pyconc_test::KindNames;
using pyconc_test::Ledger;
using pyconc_test::Shutdown;
using pyconc_test::Tracked;

TYPED_TEST_SUITE(Shutdown, Kinds, KindNames);

TYPED_TEST(Shutdown, IsShutdown) {
  typename TypeParam::template Q<int> q(TypeParam::maxsize);
  EXPECT_FALSE(q.is_shutdown());
  q.put(1);
  q.shutdown();
  EXPECT_TRUE(q.is_shutdown());
  q.shutdown();  // again: no effect, no error
  EXPECT_TRUE(q.is_shutdown());
  EXPECT_EQ(q.qsize(), 1u);
  q.shutdown(true);  // immediate after a plain shutdown still discards
  EXPECT_TRUE(q.is_shutdown());
  EXPECT_EQ(q.qsize(), 0u);
}

TYPED_TEST(Shutdown, PutRaisesShutDown) {
  typename TypeParam::template QPtr<std::unique_ptr<int>> q(TypeParam::maxsize);
  q.put(std::make_unique<int>(1));
  q.shutdown();
  auto start = Clock::now();
  EXPECT_THROW(q.put(std::make_unique<int>(2)), queue::ShutDown);
  EXPECT_THROW(q.put(std::make_unique<int>(2), false), queue::ShutDown);
  EXPECT_THROW(q.put_nowait(std::make_unique<int>(2)), queue::ShutDown);
  EXPECT_THROW(q.put(std::make_unique<int>(2), 10s), queue::ShutDown);
  EXPECT_THROW(q.put(std::make_unique<int>(2), true, 10s), queue::ShutDown);
  EXPECT_THROW(q.put(std::make_unique<int>(2), false, 10s), queue::ShutDown);
  EXPECT_LT(seconds_since(start), kPrompt);
  auto item = std::make_unique<int>(3);
  EXPECT_FALSE(q.try_put(std::move(item)));
  ASSERT_NE(item, nullptr);
  EXPECT_EQ(*item, 3);
  EXPECT_EQ(q.qsize(), 1u);
  EXPECT_EQ(q.unfinished_tasks(), 1u);  // refused puts are not tasks
}

TYPED_TEST(Shutdown, GetDrainsRemainingItemsThenRaises) {
  typename TypeParam::template Q<int> q(TypeParam::maxsize);
  std::vector<int> in = {3, 1, 4, 2};
  if (TypeParam::maxsize > 0 && TypeParam::maxsize < 4) in.resize(TypeParam::maxsize);
  const std::size_t n = in.size();
  for (int x : in) q.put(x);
  q.shutdown();
  EXPECT_FALSE(q.empty());
  std::vector<int> out;
  for (std::size_t i = 0; i < n; ++i) {
    switch (i) {
      case 0: out.push_back(q.get()); break;
      case 1: out.push_back(q.get_nowait()); break;
      case 2: out.push_back(q.get(10s)); break;
      default: out.push_back(*q.try_get()); break;
    }
  }
  EXPECT_EQ(out, TypeParam::order(in));
  EXPECT_TRUE(q.empty());
  auto start = Clock::now();
  EXPECT_THROW(q.get(), queue::ShutDown);
  EXPECT_THROW(q.get_nowait(), queue::ShutDown);  // ShutDown, not Empty
  EXPECT_THROW(q.get(false), queue::ShutDown);
  EXPECT_THROW(q.get(10s), queue::ShutDown);  // at once, not after the timeout
  EXPECT_THROW(q.get(true, 10s), queue::ShutDown);
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_EQ(q.try_get(), std::nullopt);
  // The gotten items are still tasks to finish.
  EXPECT_EQ(q.unfinished_tasks(), n);
  for (std::size_t i = 0; i < n; ++i) q.task_done();
  q.join();
  EXPECT_THROW(q.task_done(), pyconc::ValueError);
}

TYPED_TEST(Shutdown, ShutDownIsCheckedBeforeTheTimeout) {
  // Python 3.13 checks is_shutdown before validating the timeout.
  typename TypeParam::template Q<int> q(TypeParam::maxsize);
  q.put(1);
  q.shutdown();
  EXPECT_THROW(q.put(2, -1s), queue::ShutDown);
  EXPECT_THROW(q.put(2, true, -1s), queue::ShutDown);
  EXPECT_THROW(q.put(2, false, -1s), queue::ShutDown);
  // Not empty yet: the get's own rule applies (a negative timeout is a ValueError).
  EXPECT_THROW(q.get(-1s), pyconc::ValueError);
  EXPECT_EQ(q.get(false, -1s), 1);
  // Shut down and empty: ShutDown wins.
  EXPECT_THROW(q.get(-1s), queue::ShutDown);
  EXPECT_THROW(q.get(true, -1s), queue::ShutDown);
  EXPECT_THROW(q.get(false, -1s), queue::ShutDown);
}

TYPED_TEST(Shutdown, LargeBacklogDrainsInOrderThenRaises) {
  typename TypeParam::template Q<int> q(TypeParam::maxsize);
  int n = TypeParam::maxsize > 0 ? static_cast<int>(TypeParam::maxsize) : 3000;
  std::vector<int> in;
  for (int i = 0; i < n; ++i) in.push_back((i * 7919) % n);  // a permutation of 0..n-1
  for (int x : in) q.put(x);
  q.shutdown();
  std::vector<int> out;
  for (int i = 0; i < n; ++i) out.push_back(q.get());
  EXPECT_EQ(out, TypeParam::order(in));
  EXPECT_THROW(q.get(), queue::ShutDown);
  EXPECT_EQ(q.unfinished_tasks(), static_cast<std::uint64_t>(n));
}

TYPED_TEST(Shutdown, ImmediateDiscardsItems) {
  Ledger ledger;
  {
    typename TypeParam::template Q<Tracked> q(TypeParam::maxsize);
    int n = TypeParam::maxsize > 0 ? static_cast<int>(TypeParam::maxsize) : 3000;
    for (int i = 0; i < n; ++i) q.put(Tracked(ledger, i));
    EXPECT_EQ(ledger.live(), static_cast<std::size_t>(n));
    EXPECT_EQ(q.unfinished_tasks(), static_cast<std::uint64_t>(n));
    q.shutdown(true);
    EXPECT_TRUE(q.is_shutdown());
    EXPECT_EQ(ledger.live(), 0u);  // discarded items are destroyed, once each
    EXPECT_EQ(ledger.errors(), 0);
    EXPECT_EQ(q.qsize(), 0u);
    EXPECT_TRUE(q.empty());
    EXPECT_FALSE(q.full());
    auto start = Clock::now();
    EXPECT_THROW(q.get(), queue::ShutDown);
    EXPECT_THROW(q.get(10s), queue::ShutDown);
    EXPECT_THROW(q.get_nowait(), queue::ShutDown);
    EXPECT_THROW(q.put(Tracked(ledger, 99)), queue::ShutDown);
    EXPECT_LT(seconds_since(start), kPrompt);
    // Discarded items count as done: no task_done() needed for them.
    EXPECT_EQ(q.unfinished_tasks(), 0u);
    q.join();
    EXPECT_THROW(q.task_done(), pyconc::ValueError);
  }
  EXPECT_EQ(ledger.live(), 0u);
  EXPECT_EQ(ledger.errors(), 0);
}

TYPED_TEST(Shutdown, ItemsLeftAfterPlainShutdownDieWithTheQueue) {
  Ledger ledger;
  {
    typename TypeParam::template Q<Tracked> q(TypeParam::maxsize);
    for (int i = 0; i < 3; ++i) q.put(Tracked(ledger, i));
    q.shutdown();
    EXPECT_EQ(ledger.live(), 3u);  // a plain shutdown keeps them
    (void)q.get();
    EXPECT_EQ(ledger.live(), 2u);
  }
  EXPECT_EQ(ledger.live(), 0u);
  EXPECT_EQ(ledger.errors(), 0);
}
