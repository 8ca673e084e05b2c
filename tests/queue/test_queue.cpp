// Tests for queue::Queue (Python's queue.Queue), bounded (the lock-free ring) and
// unbounded (the locked deque).
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

#include "queue/held_move.hpp"
#include "support.hpp"

namespace queue = pyconc::queue;
namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::Clock;
using pyconc_test::asleep_in_futex;
using pyconc_test::eventually;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;

namespace {

template <class Q>
bool asleep_in_queue(const std::atomic<long>& tid, const Q& q) {
  return asleep_in_futex(tid.load(), &q, sizeof q);
}

/// Records every live object's address: a double destruction, a destruction of something
/// never constructed, or a leak shows up as an error or a nonzero live().
class Ledger {
 public:
  void born(const void* p) {
    std::lock_guard<std::mutex> guard(mutex_);
    if (!alive_.insert(p).second) ++errors_;
    ++constructed_;
  }
  void died(const void* p) {
    std::lock_guard<std::mutex> guard(mutex_);
    if (alive_.erase(p) != 1) ++errors_;
    ++destroyed_;
  }
  std::size_t live() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return alive_.size();
  }
  int errors() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return errors_;
  }
  int constructed() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return constructed_;
  }
  int destroyed() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return destroyed_;
  }

 private:
  mutable std::mutex mutex_;
  std::set<const void*> alive_;
  int errors_ = 0;
  int constructed_ = 0;
  int destroyed_ = 0;
};

/// A move-only value with a non-trivial destructor, tracked by a Ledger.
class Tracked {
 public:
  Tracked(Ledger& ledger, int value) : ledger_(&ledger), value_(value) { ledger_->born(this); }
  Tracked(Tracked&& other) noexcept : ledger_(other.ledger_), value_(other.value_) {
    other.value_ = -1;
    ledger_->born(this);
  }
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  Tracked& operator=(Tracked&&) = delete;
  ~Tracked() { ledger_->died(this); }
  int value() const { return value_; }

 private:
  Ledger* ledger_;
  int value_;
};

/// Bounded (ring, power of two and not) and unbounded (0 and negative) sizes.
class QueueBySize : public ::testing::TestWithParam<long long> {};

INSTANTIATE_TEST_SUITE_P(Sizes, QueueBySize, ::testing::Values(0LL, -1LL, 1LL, 3LL, 5LL, 1024LL),
                         [](const auto& info) {
                           return info.param < 0 ? "minus" + std::to_string(-info.param)
                                                 : "max" + std::to_string(info.param);
                         });

}  // namespace

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

// ---------------------------------------------------------------------------------------
// try_put / try_get

TEST(Queue, TryPutAndTryGetNeverThrow) {
  queue::Queue<std::unique_ptr<int>> q(1);
  EXPECT_EQ(q.try_get(), std::nullopt);
  auto item = std::make_unique<int>(5);
  EXPECT_TRUE(q.try_put(std::move(item)));
  EXPECT_EQ(item, nullptr);  // moved in on success
  auto other = std::make_unique<int>(6);
  EXPECT_FALSE(q.try_put(std::move(other)));
  ASSERT_NE(other, nullptr);  // left intact on failure
  EXPECT_EQ(*other, 6);
  auto got = q.try_get();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(**got, 5);
  EXPECT_EQ(q.try_get(), std::nullopt);
  EXPECT_TRUE(q.try_put(std::move(other)));
  EXPECT_EQ(other, nullptr);
}

TEST(Queue, TryPutOnFullUnboundedAndAfterShutdown) {
  {
    queue::Queue<std::unique_ptr<int>> q;
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(q.try_put(std::make_unique<int>(i)));
    q.shutdown();
    auto item = std::make_unique<int>(1);
    EXPECT_FALSE(q.try_put(std::move(item)));
    ASSERT_NE(item, nullptr);
    EXPECT_EQ(*item, 1);
    for (int i = 0; i < 100; ++i) {
      auto got = q.try_get();  // the remaining items still come out
      ASSERT_TRUE(got.has_value());
      EXPECT_EQ(**got, i);
    }
    EXPECT_EQ(q.try_get(), std::nullopt);
  }
  {
    queue::Queue<std::unique_ptr<int>> q(4);
    q.shutdown();
    auto item = std::make_unique<int>(2);
    EXPECT_FALSE(q.try_put(std::move(item)));
    ASSERT_NE(item, nullptr);
    EXPECT_EQ(q.try_get(), std::nullopt);
  }
}

TEST(Queue, TryPutCopiesFromAnLvalue) {
  for (long long maxsize : {0LL, 3LL}) {
    queue::Queue<std::string> q(maxsize);
    const std::string text = "kept";
    EXPECT_TRUE(q.try_put(text));
    EXPECT_EQ(text, "kept");
    std::string copy = "also kept";
    q.put(copy);
    EXPECT_EQ(copy, "also kept");
    EXPECT_EQ(q.get(), "kept");
    EXPECT_EQ(q.get(), "also kept");
  }
}

// ---------------------------------------------------------------------------------------
// Element types

TEST_P(QueueBySize, MoveOnlyItems) {
  queue::Queue<std::unique_ptr<int>> q(GetParam());
  q.put(std::make_unique<int>(1));
  EXPECT_EQ(*q.get(), 1);
  q.put(std::make_unique<int>(2), false);
  EXPECT_EQ(*q.get(false), 2);
  q.put_nowait(std::make_unique<int>(3));
  EXPECT_EQ(*q.get_nowait(), 3);
  q.put(std::make_unique<int>(4), 1s);
  EXPECT_EQ(*q.get(1s), 4);
  q.put(std::make_unique<int>(5), true, 1s);
  EXPECT_EQ(*q.get(true, 1s), 5);
  q.put(nullptr);
  EXPECT_EQ(q.get(), nullptr);
}

TEST(Queue, MoveOnlyItemSurvivesAFailedPut) {
  // put() takes its item by value: on Full the item is destroyed with the argument, but
  // the queue's contents are untouched.
  queue::Queue<std::unique_ptr<int>> q(1);
  q.put(std::make_unique<int>(1));
  EXPECT_THROW(q.put_nowait(std::make_unique<int>(2)), queue::Full);
  EXPECT_THROW(q.put(std::make_unique<int>(3), 10ms), queue::Full);
  EXPECT_EQ(*q.get(), 1);
}

TEST_P(QueueBySize, NoLeakNoDoubleDestroy) {
  Ledger ledger;
  {
    queue::Queue<Tracked> q(GetParam());
    long long n = GetParam() > 0 ? GetParam() : 50;
    for (long long i = 0; i < n; ++i) q.put(Tracked(ledger, static_cast<int>(i)));
    if (GetParam() > 0) {
      EXPECT_THROW(q.put_nowait(Tracked(ledger, -1)), queue::Full);
    }
    // Take half out, destroy them here.
    for (long long i = 0; i < n / 2; ++i) {
      Tracked t = q.get();
      EXPECT_EQ(t.value(), i);
    }
    EXPECT_EQ(ledger.live(), static_cast<std::size_t>(n - n / 2));  // only those in the queue
    auto got = q.try_get();
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->value(), n / 2);
    got.reset();
    // The rest stay in the queue and die with it.
  }
  EXPECT_EQ(ledger.live(), 0u);
  EXPECT_EQ(ledger.errors(), 0);
  EXPECT_EQ(ledger.constructed(), ledger.destroyed());
}

TEST(Queue, NoLeakAcrossManyLaps) {
  Ledger ledger;
  {
    queue::Queue<Tracked> q(3);
    for (int i = 0; i < 100; ++i) {
      q.put(Tracked(ledger, i));
      if (q.full()) {
        Tracked a = q.get();
        Tracked b = q.get();
        EXPECT_LT(a.value(), b.value());
      }
    }
    EXPECT_LE(ledger.live(), 3u);
  }
  EXPECT_EQ(ledger.live(), 0u);
  EXPECT_EQ(ledger.errors(), 0);
}

// ---------------------------------------------------------------------------------------
// A put held up while moving its item in (a slow move constructor): a get meanwhile does
// not wait for it, and the items put after it by another thread come out after it.

TEST(Queue, APutInProgressHoldsUpNoGetAndKeepsItsPlace) {
  for (long long maxsize : {0LL, 4096LL}) {
    queue::Queue<pyconc_test::HeldMove> q(maxsize);
    pyconc_test::MoveGate gate;
    std::thread slow_producer([&] { q.put(pyconc_test::HeldMove(&gate, 0)); });
    ASSERT_TRUE(gate.entered.wait(30s));
    constexpr int kItems = 2000;
    std::thread later_producer([&] {
      for (int i = 1; i <= kItems; ++i) q.put(pyconc_test::HeldMove(nullptr, i));
    });
    // Nothing is in the queue yet, and a get does not wait for the put in progress.
    EXPECT_THROW(q.get_nowait(), queue::Empty) << maxsize;
    EXPECT_FALSE(q.try_get().has_value()) << maxsize;
    gate.release.set();
    slow_producer.join();
    later_producer.join();
    std::vector<int> out;
    while (auto x = q.try_get()) out.push_back(x->value);
    std::vector<int> expected;
    for (int i = 0; i <= kItems; ++i) expected.push_back(i);
    EXPECT_EQ(out, expected) << maxsize;
  }
}

// ------------------------------------------------------------- elements that throw

namespace {

/// Copying throws while `fail` is set (as std::string's copy may throw bad_alloc).
struct FragileCopy {
  static inline std::atomic<bool> fail{false};
  int value = 0;
  explicit FragileCopy(int v) : value(v) {}
  FragileCopy(const FragileCopy& o) : value(o.value) {
    if (fail.load()) throw std::runtime_error("copy failed");
  }
  FragileCopy(FragileCopy&&) noexcept = default;
  FragileCopy& operator=(const FragileCopy&) = default;
  FragileCopy& operator=(FragileCopy&&) noexcept = default;
};

/// Moving (and copying) throws while `fail` is set: such elements never enter the ring.
struct FragileMove {
  static inline std::atomic<bool> fail{false};
  int value = 0;
  explicit FragileMove(int v) : value(v) {}
  FragileMove(const FragileMove& o) : value(o.value) {
    if (fail.load()) throw std::runtime_error("copy failed");
  }
  FragileMove(FragileMove&& o) noexcept(false) : value(o.value) {
    if (fail.load()) throw std::runtime_error("move failed");
  }
  FragileMove& operator=(const FragileMove&) = default;
  FragileMove& operator=(FragileMove&&) = default;
};

template <class E>
void a_failed_copy_changes_nothing(long long maxsize) {
  queue::Queue<E> q(maxsize);
  const E one(1), two(2), three(3);
  q.put(one);
  E::fail = true;
  EXPECT_THROW(q.put(two), std::runtime_error) << "maxsize " << maxsize;
  EXPECT_THROW(q.put_nowait(two), std::runtime_error);
  if (maxsize == 1) {
    EXPECT_FALSE(q.try_put(two));  // full: refused before any copy
  } else {
    EXPECT_THROW((void)q.try_put(two), std::runtime_error);
  }
  E::fail = false;
  EXPECT_EQ(q.qsize(), 1u);
  EXPECT_EQ(q.unfinished_tasks(), 1u) << "a put that failed is no task";
  // Nothing was left half-put: getters neither block nor see a gap.
  EXPECT_EQ(q.get(pyconc::Seconds(5)).value, 1);
  q.put(three);
  EXPECT_EQ(q.get(pyconc::Seconds(5)).value, 3);
  EXPECT_TRUE(q.empty());
  q.task_done();
  q.task_done();
  q.join();
}

}  // namespace

TEST(Queue, AnElementWhoseCopyThrowsIsNotPutAndBlocksNothing) {
  for (long long maxsize : {0LL, 1LL, 2LL, 8LL, 1024LL}) a_failed_copy_changes_nothing<FragileCopy>(maxsize);
}

TEST(Queue, AnElementWhoseMoveMayThrowIsNotPutAndBlocksNothing) {
  for (long long maxsize : {0LL, 1LL, 2LL, 8LL}) a_failed_copy_changes_nothing<FragileMove>(maxsize);
}
