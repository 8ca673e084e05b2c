// Tests for queue::Queue (Python's queue.Queue), bounded (the lock-free ring) and
// unbounded (the locked deque): errors, order, sizes, and the non-blocking and timed calls.
// Blocking and join: test_queue_blocking.cpp; element types: test_queue_elements.cpp.
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
using pyconc_test::asleep_in_futex;
using pyconc_test::eventually;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;

using pyconc_test::QueueBySize;

INSTANTIATE_TEST_SUITE_P(Sizes, QueueBySize, pyconc_test::kQueueSizes, pyconc_test::queue_size_name);

static_assert(!std::is_copy_constructible_v<queue::Queue<int>>);
static_assert(std::is_base_of_v<pyconc::Error, queue::Empty>);
static_assert(std::is_base_of_v<pyconc::Error, queue::Full>);
static_assert(std::is_base_of_v<pyconc::Error, queue::ShutDown>);

TEST(QueueErrors, PythonNames) {
  EXPECT_STREQ(queue::Empty("x").type_name(), "queue.Empty");
  EXPECT_STREQ(queue::Full("x").type_name(), "queue.Full");
  EXPECT_STREQ(queue::ShutDown("x").type_name(), "queue.ShutDown");
}

// ---------------------------------------------------------------------------------------
// Order, sizes, capacity

TEST_P(QueueBySize, FirstInFirstOut) {
  queue::Queue<int> q(GetParam());
  long long room = GetParam() > 0 ? GetParam() : 100;
  int next_in = 0, next_out = 0;
  // Several laps around a ring, interleaving puts and gets.
  for (int round = 0; round < 7; ++round) {
    for (long long i = 0; i < room; ++i) q.put(next_in++);
    for (long long i = 0; i < room / 2 + 1 && next_out < next_in; ++i) EXPECT_EQ(q.get(), next_out++);
    while (static_cast<long long>(q.qsize()) < room) q.put(next_in++);
    while (!q.empty()) EXPECT_EQ(q.get(), next_out++);
  }
  EXPECT_EQ(next_in, next_out);
  EXPECT_EQ(q.qsize(), 0u);
}

TEST(Queue, UnboundedOrderAcrossLargeBacklogs) {
  // Backlogs of many sizes, drained part way and refilled: first in, first out always.
  queue::Queue<int> q;
  int next_in = 0, next_out = 0;
  for (int round : {1, 511, 512, 513, 1000, 3000, 7, 600}) {
    for (int i = 0; i < round; ++i) q.put(next_in++);
    for (int i = 0; i < round / 2 + 1; ++i) ASSERT_EQ(q.get_nowait(), next_out++);
    for (int i = 0; i < round / 3; ++i) q.put_nowait(next_in++);
    ASSERT_EQ(q.qsize(), static_cast<std::size_t>(next_in - next_out));
  }
  while (auto x = q.try_get()) ASSERT_EQ(*x, next_out++);
  EXPECT_EQ(next_in, next_out);
  EXPECT_EQ(q.unfinished_tasks(), static_cast<std::uint64_t>(next_in));
}

TEST_P(QueueBySize, MaxsizeAccessor) {
  queue::Queue<int> q(GetParam());
  EXPECT_EQ(q.maxsize(), GetParam());
}

TEST(Queue, DefaultIsUnbounded) {
  queue::Queue<int> q;
  EXPECT_EQ(q.maxsize(), 0);
  for (int i = 0; i < 10000; ++i) q.put_nowait(i);
  EXPECT_FALSE(q.full());
  EXPECT_EQ(q.qsize(), 10000u);
}

TEST(Queue, UnboundedPutsManyWithoutBlocking) {
  for (long long maxsize : {0LL, -1LL, -100LL}) {
    queue::Queue<int> q(maxsize);
    auto start = Clock::now();
    for (int i = 0; i < 100000; ++i) {
      if (i % 3 == 0) q.put(i);
      else if (i % 3 == 1) q.put(i, false);
      else q.put_nowait(i);
      ASSERT_FALSE(q.full());
    }
    EXPECT_LT(seconds_since(start), kPrompt);
    EXPECT_EQ(q.qsize(), 100000u);
    for (int i = 0; i < 100000; ++i) ASSERT_EQ(q.get_nowait(), i);
    EXPECT_TRUE(q.empty());
  }
}

TEST_P(QueueBySize, ExactCapacity) {
  long long maxsize = GetParam();
  if (maxsize <= 0) GTEST_SKIP() << "unbounded";
  queue::Queue<int> q(maxsize);
  for (int lap = 0; lap < 3; ++lap) {
    for (long long i = 0; i < maxsize; ++i) {
      EXPECT_FALSE(q.full());
      q.put_nowait(static_cast<int>(i));
    }
    EXPECT_TRUE(q.full());
    EXPECT_EQ(q.qsize(), static_cast<std::size_t>(maxsize));
    EXPECT_THROW(q.put_nowait(-1), queue::Full);
    EXPECT_THROW(q.put(-1, false), queue::Full);
    EXPECT_FALSE(q.try_put(-1));
    EXPECT_EQ(q.qsize(), static_cast<std::size_t>(maxsize));
    // One out makes room for exactly one.
    EXPECT_EQ(q.get_nowait(), 0);
    EXPECT_FALSE(q.full());
    q.put_nowait(static_cast<int>(maxsize));
    EXPECT_THROW(q.put_nowait(-1), queue::Full);
    for (long long i = 1; i <= maxsize; ++i) EXPECT_EQ(q.get_nowait(), i);
    EXPECT_THROW(q.get_nowait(), queue::Empty);
  }
}

TEST(Queue, SizesThatAreNotPowersOfTwo) {
  for (long long maxsize : {1LL, 2LL, 3LL, 5LL, 6LL, 7LL, 100LL, 1000LL, 1023LL, 1025LL}) {
    queue::Queue<long long> q(maxsize);
    for (long long i = 0; i < maxsize; ++i) q.put_nowait(i);
    EXPECT_THROW(q.put_nowait(maxsize), queue::Full) << maxsize;
    EXPECT_EQ(q.qsize(), static_cast<std::size_t>(maxsize));
    // Stream 5 laps through it, always one free slot used and refilled.
    long long in = maxsize, out = 0;
    for (long long i = 0; i < 5 * maxsize; ++i) {
      ASSERT_EQ(q.get_nowait(), out++) << maxsize;
      q.put_nowait(in++);
      ASSERT_TRUE(q.full());
    }
    while (!q.empty()) ASSERT_EQ(q.get_nowait(), out++);
    EXPECT_EQ(in, out);
  }
}


TEST_P(QueueBySize, QsizeEmptyFullSnapshots) {
  long long maxsize = GetParam();
  queue::Queue<int> q(maxsize);
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.full());
  EXPECT_EQ(q.qsize(), 0u);
  q.put(1);
  EXPECT_FALSE(q.empty());
  EXPECT_EQ(q.qsize(), 1u);
  EXPECT_EQ(q.full(), maxsize == 1);
  if (maxsize != 1) {
    q.put(2);
    EXPECT_EQ(q.qsize(), 2u);
    EXPECT_EQ(q.full(), maxsize == 2);
    EXPECT_EQ(q.get(), 1);
  }
  EXPECT_EQ(q.qsize(), 1u);
  q.get();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.qsize(), 0u);
  EXPECT_FALSE(q.full());
}

TEST(Queue, FullIsAlwaysFalseWhenUnbounded) {
  for (long long maxsize : {0LL, -5LL}) {
    queue::Queue<int> q(maxsize);
    EXPECT_FALSE(q.full());
    for (int i = 0; i < 5000; ++i) {
      q.put(i);
      ASSERT_FALSE(q.full());
    }
  }
}

// ---------------------------------------------------------------------------------------
// Non-blocking and timed calls

TEST_P(QueueBySize, GetOnEmptyRaisesEmpty) {
  queue::Queue<int> q(GetParam());
  EXPECT_THROW(q.get_nowait(), queue::Empty);
  EXPECT_THROW(q.get(false), queue::Empty);
  EXPECT_THROW(q.get(false, 10s), queue::Empty);
  EXPECT_EQ(q.try_get(), std::nullopt);
  q.put(7);
  EXPECT_EQ(q.get(false), 7);
  EXPECT_THROW(q.get_nowait(), queue::Empty);
}

TEST(Queue, PutOnFullRaisesFull) {
  queue::Queue<int> q(2);
  q.put(1);
  q.put(2);
  auto start = Clock::now();
  EXPECT_THROW(q.put_nowait(3), queue::Full);
  EXPECT_THROW(q.put(3, false), queue::Full);
  EXPECT_THROW(q.put(3, false, 10s), queue::Full);  // block=false: the timeout is ignored
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_EQ(q.qsize(), 2u);
  EXPECT_EQ(q.get(), 1);
  EXPECT_EQ(q.get(), 2);
}

TEST(Queue, TimedGetTimesOut) {
  for (long long maxsize : {0LL, 4LL}) {
    queue::Queue<int> q(maxsize);
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
      EXPECT_THROW(q.get(0.05s), queue::Empty);
      EXPECT_GE(seconds_since(start), 0.045);
    }
  }
}

TEST(Queue, TimedPutTimesOut) {
  for (long long maxsize : {1LL, 3LL, 8LL}) {
    queue::Queue<int> q(maxsize);
    for (long long i = 0; i < maxsize; ++i) q.put(static_cast<int>(i));
    {
      auto start = Clock::now();
      EXPECT_THROW(q.put(99, 50ms), queue::Full);
      double elapsed = seconds_since(start);
      EXPECT_GE(elapsed, 0.045);
      EXPECT_LT(elapsed, kPrompt);
    }
    {
      auto start = Clock::now();
      EXPECT_THROW(q.put(99, true, 50ms), queue::Full);
      double elapsed = seconds_since(start);
      EXPECT_GE(elapsed, 0.045);
      EXPECT_LT(elapsed, kPrompt);
    }
    EXPECT_EQ(q.qsize(), static_cast<std::size_t>(maxsize));
    EXPECT_EQ(q.get_nowait(), 0);  // the failed puts left nothing behind
  }
}

TEST(Queue, ZeroTimeoutDoesNotWait) {
  queue::Queue<int> q(1);
  auto start = Clock::now();
  EXPECT_THROW(q.get(0s), queue::Empty);
  q.put(1, 0s);  // room: succeeds
  EXPECT_THROW(q.put(2, 0s), queue::Full);
  EXPECT_EQ(q.get(0s), 1);
  EXPECT_LT(seconds_since(start), kPrompt);
}

TEST(Queue, TimedCallsSucceedAtOnceWhenPossible) {
  queue::Queue<int> q(2);
  auto start = Clock::now();
  q.put(1, 30s);
  q.put(2, true, 30s);
  EXPECT_EQ(q.get(30s), 1);
  EXPECT_EQ(q.get(true, 30s), 2);
  EXPECT_LT(seconds_since(start), kPrompt);
}

TEST(Queue, NegativeTimeoutRaisesValueError) {
  queue::Queue<int> q(3);
  EXPECT_THROW(q.get(-1s), pyconc::ValueError);
  EXPECT_THROW(q.get(true, -0.5s), pyconc::ValueError);
  // Python checks the timeout before looking at the queue: ValueError even with room.
  EXPECT_THROW(q.put(1, -1s), pyconc::ValueError);
  EXPECT_THROW(q.put(1, true, -1ms), pyconc::ValueError);
  EXPECT_TRUE(q.empty());
  // ... and even with items to get.
  q.put(5);
  EXPECT_THROW(q.get(-1s), pyconc::ValueError);
  EXPECT_EQ(q.qsize(), 1u);
  EXPECT_EQ(q.unfinished_tasks(), 1u);
}

TEST(Queue, NonBlockingIgnoresTheTimeout) {
  // Python: with block=False the timeout argument is ignored, even a negative one.
  queue::Queue<int> q(2);
  q.put(1, false, -1s);
  q.put(2, false, -5s);
  EXPECT_THROW(q.put(3, false, -1s), queue::Full);
  EXPECT_EQ(q.get(false, -1s), 1);
  EXPECT_EQ(q.get(false, -1s), 2);
  EXPECT_THROW(q.get(false, -1s), queue::Empty);
}

TEST(Queue, UnboundedPutIgnoresTheTimeout) {
  // Python's Queue.put only looks at block/timeout when maxsize > 0: an unbounded put
  // never waits, so even a negative timeout is accepted.
  for (long long maxsize : {0LL, -1LL}) {
    queue::Queue<int> q(maxsize);
    q.put(1, -1s);
    q.put(2, true, -1s);
    q.put(3, false, -1s);
    q.put(4, 0s);
    EXPECT_EQ(q.qsize(), 4u);
    for (int i = 1; i <= 4; ++i) EXPECT_EQ(q.get_nowait(), i);
    // get still validates, as Python's does.
    EXPECT_THROW(q.get(-1s), pyconc::ValueError);
  }
}

TEST(Queue, TimeoutBeyondTimeoutMaxWaitsWithoutLimit) {
  // pyconc treats a timeout too large for the clock as none (docs/queue.md): no
  // OverflowError, and the call still returns once it can.
  for (long long maxsize : {0LL, 1LL, 4LL}) {
    queue::Queue<int> q(maxsize);
    q.put(1, threading::TIMEOUT_MAX * 2);
    EXPECT_EQ(q.get(threading::TIMEOUT_MAX * 2), 1);
    std::atomic<long> tid{0};
    std::atomic<int> got{-1};
    std::thread getter([&] {
      tid = gettid();
      got = q.get(true, pyconc::Seconds(1e300));
    });
    ASSERT_TRUE(eventually([&] { return asleep_in_futex(tid.load(), &q, sizeof q); }));
    q.put(2);
    getter.join();
    EXPECT_EQ(got.load(), 2);
  }
}
