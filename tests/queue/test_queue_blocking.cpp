// Tests for queue::Queue (Python's queue.Queue), bounded and unbounded: calls that block
// across threads, and task_done / join.
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
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
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

using pyconc_test::QueueBySize;
using pyconc_test::asleep_in_queue;

INSTANTIATE_TEST_SUITE_P(Sizes, QueueBySize, pyconc_test::kQueueSizes, pyconc_test::queue_size_name);

// ---------------------------------------------------------------------------------------
// Blocking across threads

TEST_P(QueueBySize, BlockedGetIsWokenByPut) {
  queue::Queue<std::string> q(GetParam());
  std::atomic<long> tid{0};
  std::optional<std::string> got;
  std::thread getter([&] {
    tid = gettid();
    got = q.get();
  });
  ASSERT_TRUE(eventually([&] { return asleep_in_queue(tid, q); }));
  auto start = Clock::now();
  q.put("hello");
  getter.join();
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_EQ(got, "hello");
  EXPECT_TRUE(q.empty());
}

TEST(Queue, BlockedPutOnFullIsWokenByGet) {
  for (long long maxsize : {1LL, 3LL, 4LL}) {
    queue::Queue<int> q(maxsize);
    for (long long i = 0; i < maxsize; ++i) q.put(static_cast<int>(i));
    std::atomic<long> tid{0};
    std::atomic<bool> put_returned{false};
    threading::Thread putter([&] {
      tid = gettid();
      q.put(100);
      put_returned = true;
    });
    putter.start();
    ASSERT_TRUE(eventually([&] { return asleep_in_queue(tid, q); }));
    EXPECT_FALSE(put_returned.load());
    EXPECT_EQ(q.get(), 0);
    putter.join();
    EXPECT_TRUE(put_returned.load());
    EXPECT_TRUE(q.full());
    for (long long i = 1; i < maxsize; ++i) EXPECT_EQ(q.get(), i);
    EXPECT_EQ(q.get(), 100);
  }
}

TEST_P(QueueBySize, TimedGetSucceedsBeforeTheTimeout) {
  queue::Queue<int> q(GetParam());
  std::atomic<long> tid{0};
  std::atomic<int> got{-1};
  double waited = 0;
  std::thread getter([&] {
    tid = gettid();
    auto start = Clock::now();
    got = q.get(30s);
    waited = seconds_since(start);
  });
  ASSERT_TRUE(eventually([&] { return asleep_in_queue(tid, q); }));
  q.put(42);
  getter.join();
  EXPECT_EQ(got.load(), 42);
  EXPECT_LT(waited, kPrompt);
}

TEST(Queue, TimedPutSucceedsBeforeTheTimeout) {
  queue::Queue<int> q(1);
  q.put(1);
  std::atomic<long> tid{0};
  std::atomic<bool> ok{false};
  double waited = 0;
  std::thread putter([&] {
    tid = gettid();
    auto start = Clock::now();
    q.put(2, true, 30s);
    waited = seconds_since(start);
    ok = true;
  });
  ASSERT_TRUE(eventually([&] { return asleep_in_queue(tid, q); }));
  EXPECT_EQ(q.get(), 1);
  putter.join();
  EXPECT_TRUE(ok.load());
  EXPECT_LT(waited, kPrompt);
  EXPECT_EQ(q.get_nowait(), 2);
}

TEST(Queue, ManyBlockedGettersEachGetOneItem) {
  for (long long maxsize : {0LL, 2LL, 8LL}) {
    queue::Queue<int> q(maxsize);
    constexpr int kGetters = 4;
    std::atomic<long> tids[kGetters] = {};
    std::atomic<int> got[kGetters];
    for (auto& g : got) g = -1;
    std::vector<std::thread> getters;
    for (int i = 0; i < kGetters; ++i) {
      getters.emplace_back([&, i] {
        tids[i] = gettid();
        got[i] = q.get();
      });
    }
    for (int i = 0; i < kGetters; ++i) ASSERT_TRUE(eventually([&] { return asleep_in_queue(tids[i], q); }));
    for (int i = 0; i < kGetters; ++i) q.put(i);  // may block briefly when maxsize is 2
    for (auto& t : getters) t.join();
    std::set<int> seen;
    for (auto& g : got) seen.insert(g.load());
    EXPECT_EQ(seen, (std::set<int>{0, 1, 2, 3}));
    EXPECT_TRUE(q.empty());
  }
}

TEST(Queue, PutHappensBeforeGet) {
  // What the producer wrote before put() is visible to the consumer after get()
  // (ThreadSanitizer checks the plain reads and writes).
  for (long long maxsize : {0LL, 2LL}) {
    queue::Queue<std::vector<int>*> q(maxsize);
    constexpr int kItems = 2000;
    std::vector<std::vector<int>> payload(kItems);
    std::thread producer([&] {
      for (int i = 0; i < kItems; ++i) {
        payload[i].assign(8, i);
        q.put(&payload[i]);
      }
    });
    for (int i = 0; i < kItems; ++i) {
      std::vector<int>* p = q.get();
      ASSERT_EQ(p, &payload[i]);
      ASSERT_EQ(p->size(), 8u);
      ASSERT_EQ((*p)[7], i);
    }
    producer.join();
  }
}

// ---------------------------------------------------------------------------------------
// task_done / join

TEST_P(QueueBySize, JoinReturnsAtOnceWhenNothingWasPut) {
  queue::Queue<int> q(GetParam());
  auto start = Clock::now();
  q.join();
  q.join();
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_EQ(q.unfinished_tasks(), 0u);
}

TEST_P(QueueBySize, UnfinishedTasksCountsPutsMinusTaskDone) {
  queue::Queue<int> q(GetParam());
  long long n = GetParam() > 0 ? std::min<long long>(GetParam(), 3) : 3;
  for (long long i = 0; i < n; ++i) {
    q.put(static_cast<int>(i));
    EXPECT_EQ(q.unfinished_tasks(), static_cast<std::uint64_t>(i + 1));
  }
  q.get();  // getting does not finish a task
  EXPECT_EQ(q.unfinished_tasks(), static_cast<std::uint64_t>(n));
  q.task_done();
  EXPECT_EQ(q.unfinished_tasks(), static_cast<std::uint64_t>(n - 1));
  while (!q.empty()) {
    q.get();
    q.task_done();
  }
  EXPECT_EQ(q.unfinished_tasks(), 0u);
  q.join();  // returns at once
  // try_put counts as a put, too.
  EXPECT_TRUE(q.try_put(9));
  EXPECT_EQ(q.unfinished_tasks(), 1u);
  EXPECT_EQ(q.try_get(), 9);
  q.task_done();
  EXPECT_EQ(q.unfinished_tasks(), 0u);
}

TEST_P(QueueBySize, TaskDoneTooOftenRaisesValueError) {
  queue::Queue<int> q(GetParam());
  EXPECT_THROW(q.task_done(), pyconc::ValueError);
  EXPECT_EQ(q.unfinished_tasks(), 0u);
  q.put(1);
  q.get();
  q.task_done();
  EXPECT_THROW(q.task_done(), pyconc::ValueError);
  EXPECT_THROW(q.task_done(), pyconc::ValueError);
  // The failed calls changed nothing: the next put is one unfinished task again.
  q.put(2);
  EXPECT_EQ(q.unfinished_tasks(), 1u);
  q.get();
  q.task_done();
  EXPECT_EQ(q.unfinished_tasks(), 0u);
  q.join();
}

TEST_P(QueueBySize, JoinWaitsForEveryTaskDone) {
  long long maxsize = GetParam();
  queue::Queue<int> q(maxsize);
  constexpr int kItems = 10;
  threading::Event last_item_gotten;
  threading::Event finish_last;
  std::atomic<bool> joined{false};
  std::atomic<int> done_count{0};
  std::atomic<long> joiner_tid{0};

  threading::Thread consumer([&] {
    for (int i = 0; i < kItems; ++i) {
      int x = q.get();
      EXPECT_EQ(x, i);
      if (i == kItems - 1) {
        last_item_gotten.set();
        finish_last.wait();
        EXPECT_FALSE(joined.load());  // join() must still be waiting
      }
      done_count.fetch_add(1);
      q.task_done();
    }
  });
  consumer.start();
  for (int i = 0; i < kItems; ++i) q.put(i);

  threading::Thread joiner([&] {
    joiner_tid = gettid();
    q.join();
    joined = true;
    EXPECT_EQ(done_count.load(), kItems);
  });
  joiner.start();

  ASSERT_TRUE(last_item_gotten.wait(30s));
  EXPECT_TRUE(eventually([&] { return q.unfinished_tasks() == 1; }));
  EXPECT_TRUE(q.empty());
  EXPECT_TRUE(eventually([&] { return asleep_in_queue(joiner_tid, q); }));
  EXPECT_FALSE(joined.load());
  finish_last.set();
  joiner.join();
  consumer.join();
  EXPECT_TRUE(joined.load());
  EXPECT_EQ(q.unfinished_tasks(), 0u);
}

TEST(Queue, JoinWaitsWhileTasksKeepArriving) {
  // A relay that puts the next item before finishing the current one keeps at least one
  // task unfinished until its very last task_done(): no join() may return before that.
  for (long long maxsize : {0LL, 2LL}) {
    queue::Queue<int> q(maxsize);
    constexpr int kSteps = 3000;
    constexpr int kJoiners = 3;
    std::atomic<bool> finished{false};
    std::atomic<int> early{0};
    q.put(0);
    std::vector<std::thread> joiners;
    for (int j = 0; j < kJoiners; ++j) {
      joiners.emplace_back([&] {
        q.join();
        if (!finished.load()) early.fetch_add(1);
      });
    }
    std::thread relay([&] {
      for (int i = 0; i < kSteps; ++i) {
        int x = q.get();
        EXPECT_EQ(x, i);
        if (i + 1 < kSteps) q.put(i + 1);
        else finished = true;
        q.task_done();
      }
    });
    relay.join();
    for (auto& t : joiners) t.join();
    EXPECT_EQ(early.load(), 0);
    EXPECT_EQ(q.unfinished_tasks(), 0u);
  }
}
