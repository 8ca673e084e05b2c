// Tests for queue::Queue (Python's queue.Queue), bounded and unbounded: try_put / try_get,
// and the element types (move-only, tracked, slow to move in, throwing on copy or move).
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
#include "queue/queue_support.hpp"
#include "support.hpp"

namespace queue = pyconc::queue;
namespace threading = pyconc::threading;
using namespace std::chrono_literals;

using pyconc_test::Ledger;
using pyconc_test::QueueBySize;
using pyconc_test::Tracked;

INSTANTIATE_TEST_SUITE_P(Sizes, QueueBySize, pyconc_test::kQueueSizes, pyconc_test::queue_size_name);

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
