// Tests for Python 3.13's Queue.shutdown(immediate) on queue::Queue (bounded and
// unbounded), queue::LifoQueue and queue::PriorityQueue.
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

/// Counts live objects by address: catches leaks and double destruction.
class Ledger {
 public:
  void born(const void* p) {
    std::lock_guard<std::mutex> guard(mutex_);
    if (!alive_.insert(p).second) ++errors_;
  }
  void died(const void* p) {
    std::lock_guard<std::mutex> guard(mutex_);
    if (alive_.erase(p) != 1) ++errors_;
  }
  std::size_t live() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return alive_.size();
  }
  int errors() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return errors_;
  }

 private:
  mutable std::mutex mutex_;
  std::set<const void*> alive_;
  int errors_ = 0;
};

class Tracked {
 public:
  Tracked(Ledger& ledger, int value) : ledger_(&ledger), value_(value) { ledger_->born(this); }
  Tracked(Tracked&& other) noexcept : ledger_(other.ledger_), value_(other.value_) { ledger_->born(this); }
  Tracked& operator=(Tracked&& other) noexcept {
    value_ = other.value_;
    return *this;
  }
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  ~Tracked() { ledger_->died(this); }
  int value() const { return value_; }
  friend bool operator<(const Tracked& a, const Tracked& b) { return a.value_ < b.value_; }

 private:
  Ledger* ledger_;
  int value_;
};

struct DerefLess {
  bool operator()(const std::unique_ptr<int>& a, const std::unique_ptr<int>& b) const { return *a < *b; }
};

/// The queue kinds under test. `make<T>()` builds one; `order(in)` is the order in which
/// the items `in` come out.
template <class T>
using Fifo = queue::Queue<T>;
template <class T>
using Lifo = queue::LifoQueue<T>;
template <class T>
using Prio = queue::PriorityQueue<T>;
template <class T>
using PrioPtr = queue::PriorityQueue<T, DerefLess>;

struct FifoBounded {
  template <class T>
  using Q = Fifo<T>;
  template <class T>
  using QPtr = Fifo<T>;
  static constexpr long long maxsize = 4;
  static std::vector<int> order(std::vector<int> in) { return in; }
};
struct FifoUnbounded : FifoBounded {
  static constexpr long long maxsize = 0;
};
struct FifoPowerOfTwoLarge : FifoBounded {
  static constexpr long long maxsize = 1024;
};
struct FifoOdd : FifoBounded {
  static constexpr long long maxsize = 3;
};
struct LifoBounded {
  template <class T>
  using Q = Lifo<T>;
  template <class T>
  using QPtr = Lifo<T>;
  static constexpr long long maxsize = 4;
  static std::vector<int> order(std::vector<int> in) { return {in.rbegin(), in.rend()}; }
};
struct LifoUnbounded : LifoBounded {
  static constexpr long long maxsize = 0;
};
struct PrioBounded {
  template <class T>
  using Q = Prio<T>;
  template <class T>
  using QPtr = PrioPtr<T>;
  static constexpr long long maxsize = 4;
  static std::vector<int> order(std::vector<int> in) {
    std::sort(in.begin(), in.end());
    return in;
  }
};
struct PrioUnbounded : PrioBounded {
  static constexpr long long maxsize = 0;
};

template <class Kind>
class Shutdown : public ::testing::Test {};

using Kinds = ::testing::Types<FifoBounded, FifoUnbounded, FifoPowerOfTwoLarge, FifoOdd, LifoBounded,
                               LifoUnbounded, PrioBounded, PrioUnbounded>;

class KindNames {
 public:
  template <class T>
  static std::string GetName(int) {
    if (std::is_same_v<T, FifoBounded>) return "QueueMax4";
    if (std::is_same_v<T, FifoUnbounded>) return "QueueUnbounded";
    if (std::is_same_v<T, FifoPowerOfTwoLarge>) return "QueueMax1024";
    if (std::is_same_v<T, FifoOdd>) return "QueueMax3";
    if (std::is_same_v<T, LifoBounded>) return "LifoQueueMax4";
    if (std::is_same_v<T, LifoUnbounded>) return "LifoQueueUnbounded";
    if (std::is_same_v<T, PrioBounded>) return "PriorityQueueMax4";
    return "PriorityQueueUnbounded";
  }
};

TYPED_TEST_SUITE(Shutdown, Kinds, KindNames);

/// A thread blocked in a queue call, with the outcome kept: the value, or which
/// exception.
struct Outcome {
  static constexpr int kNone = -100, kShutDown = -1, kEmpty = -2, kFull = -3, kOther = -4;
};

template <class Fn>
std::thread spawn_blocker(std::atomic<long>& tid, std::atomic<int>& outcome, std::atomic<double>& waited_after,
                          const std::atomic<bool>& shutdown_called, Clock::time_point& shutdown_time, Fn fn) {
  return std::thread([&tid, &outcome, &waited_after, &shutdown_called, &shutdown_time, fn] {
    tid = gettid();
    int r = Outcome::kNone;
    try {
      r = fn();
    } catch (const queue::ShutDown&) {
      r = Outcome::kShutDown;
    } catch (const queue::Empty&) {
      r = Outcome::kEmpty;
    } catch (const queue::Full&) {
      r = Outcome::kFull;
    } catch (...) {
      r = Outcome::kOther;
    }
    if (shutdown_called.load()) waited_after = seconds_since(shutdown_time);
    outcome = r;
  });
}

}  // namespace

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

TYPED_TEST(Shutdown, BlockedGettersWakeWithShutDown) {
  typename TypeParam::template Q<int> q(TypeParam::maxsize);
  constexpr int kGetters = 3;
  std::atomic<long> tids[kGetters] = {};
  std::atomic<int> outcomes[kGetters];
  std::atomic<double> waited[kGetters];
  std::atomic<bool> shutdown_called{false};
  Clock::time_point shutdown_time{};
  std::vector<std::thread> threads;
  for (int i = 0; i < kGetters; ++i) {
    outcomes[i] = Outcome::kNone;
    waited[i] = -1;
    threads.push_back(spawn_blocker(tids[i], outcomes[i], waited[i], shutdown_called, shutdown_time, [&q, i] {
      return i == 0 ? q.get() : q.get(i == 1 ? 30.0s : 3600.0s);
    }));
  }
  for (int i = 0; i < kGetters; ++i) ASSERT_TRUE(eventually([&] { return asleep_in_queue(tids[i], q); }));
  for (auto& o : outcomes) EXPECT_EQ(o.load(), Outcome::kNone);
  shutdown_time = Clock::now();
  shutdown_called = true;
  q.shutdown();
  for (auto& t : threads) t.join();
  for (int i = 0; i < kGetters; ++i) {
    EXPECT_EQ(outcomes[i].load(), Outcome::kShutDown) << i;
    EXPECT_LT(waited[i].load(), kPrompt) << i;
  }
}

TYPED_TEST(Shutdown, BlockedPuttersWakeWithShutDown) {
  if (TypeParam::maxsize <= 0) GTEST_SKIP() << "an unbounded put never blocks";
  typename TypeParam::template Q<int> q(TypeParam::maxsize);
  for (long long i = 0; i < TypeParam::maxsize; ++i) q.put(static_cast<int>(i));
  ASSERT_TRUE(q.full());
  constexpr int kPutters = 3;
  std::atomic<long> tids[kPutters] = {};
  std::atomic<int> outcomes[kPutters];
  std::atomic<double> waited[kPutters];
  std::atomic<bool> shutdown_called{false};
  Clock::time_point shutdown_time{};
  std::vector<std::thread> threads;
  for (int i = 0; i < kPutters; ++i) {
    outcomes[i] = Outcome::kNone;
    waited[i] = -1;
    threads.push_back(spawn_blocker(tids[i], outcomes[i], waited[i], shutdown_called, shutdown_time, [&q, i] {
      if (i == 0) q.put(100);
      else if (i == 1) q.put(101, 30s);
      else q.put(102, true, 3600s);
      return 0;
    }));
  }
  for (int i = 0; i < kPutters; ++i) ASSERT_TRUE(eventually([&] { return asleep_in_queue(tids[i], q); }));
  shutdown_time = Clock::now();
  shutdown_called = true;
  q.shutdown();
  for (auto& t : threads) t.join();
  for (int i = 0; i < kPutters; ++i) {
    EXPECT_EQ(outcomes[i].load(), Outcome::kShutDown) << i;
    EXPECT_LT(waited[i].load(), kPrompt) << i;
  }
  // The queue still holds exactly what was in it, and gives it out.
  EXPECT_EQ(q.qsize(), static_cast<std::size_t>(TypeParam::maxsize));
  EXPECT_EQ(q.unfinished_tasks(), static_cast<std::uint64_t>(TypeParam::maxsize));
  std::vector<int> out;
  for (long long i = 0; i < TypeParam::maxsize; ++i) out.push_back(q.get());
  std::vector<int> in;
  for (long long i = 0; i < TypeParam::maxsize; ++i) in.push_back(static_cast<int>(i));
  EXPECT_EQ(out, TypeParam::order(in));
  EXPECT_THROW(q.get(), queue::ShutDown);
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

TYPED_TEST(Shutdown, ImmediateReleasesBlockedJoin) {
  typename TypeParam::template Q<int> q(TypeParam::maxsize);
  for (int i = 0; i < 3; ++i) q.put(i);
  std::atomic<long> tid{0};
  std::atomic<bool> joined{false};
  std::thread joiner([&] {
    tid = gettid();
    q.join();
    joined = true;
  });
  ASSERT_TRUE(eventually([&] { return asleep_in_queue(tid, q); }));
  EXPECT_FALSE(joined.load());
  auto start = Clock::now();
  q.shutdown(true);  // no task_done() for the three discarded items
  joiner.join();
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_TRUE(joined.load());
}

TYPED_TEST(Shutdown, ImmediateJoinStillWaitsForItemsAlreadyGotten) {
  typename TypeParam::template Q<int> q(TypeParam::maxsize);
  for (int i = 0; i < 3; ++i) q.put(i);
  int first = q.get();  // gotten, not yet task_done
  (void)first;
  std::atomic<long> tid{0};
  std::atomic<bool> joined{false};
  std::thread joiner([&] {
    tid = gettid();
    q.join();
    joined = true;
  });
  ASSERT_TRUE(eventually([&] { return asleep_in_queue(tid, q); }));
  q.shutdown(true);
  EXPECT_EQ(q.qsize(), 0u);
  EXPECT_EQ(q.unfinished_tasks(), 1u);
  // join() is woken by the shutdown but must go back to waiting for the gotten item.
  EXPECT_TRUE(eventually([&] { return asleep_in_queue(tid, q); }));
  std::this_thread::sleep_for(20ms);  // negative check: it has not returned
  EXPECT_FALSE(joined.load());
  q.task_done();
  joiner.join();
  EXPECT_TRUE(joined.load());
  EXPECT_EQ(q.unfinished_tasks(), 0u);
  EXPECT_THROW(q.task_done(), pyconc::ValueError);
}

TYPED_TEST(Shutdown, PlainShutdownDoesNotReleaseJoin) {
  typename TypeParam::template Q<int> q(TypeParam::maxsize);
  q.put(1);
  q.put(2);
  q.shutdown();
  std::atomic<long> tid{0};
  std::atomic<bool> joined{false};
  std::thread joiner([&] {
    tid = gettid();
    q.join();
    joined = true;
  });
  ASSERT_TRUE(eventually([&] { return asleep_in_queue(tid, q); }));
  EXPECT_FALSE(joined.load());
  q.get();
  q.task_done();
  q.get();
  std::this_thread::sleep_for(20ms);  // negative check: one task is still unfinished
  EXPECT_FALSE(joined.load());
  q.task_done();
  joiner.join();
  EXPECT_TRUE(joined.load());
}

TYPED_TEST(Shutdown, ImmediateWakesBlockedGettersAndPutters) {
  typename TypeParam::template Q<int> q(TypeParam::maxsize);
  std::atomic<long> tid{0};
  std::atomic<int> outcome{Outcome::kNone};
  std::atomic<double> waited{-1};
  std::atomic<bool> shutdown_called{false};
  Clock::time_point shutdown_time{};
  std::thread blocked;
  if (TypeParam::maxsize > 0) {
    for (long long i = 0; i < TypeParam::maxsize; ++i) q.put(static_cast<int>(i));
    blocked = spawn_blocker(tid, outcome, waited, shutdown_called, shutdown_time, [&q] {
      q.put(-5);
      return 0;
    });
  } else {
    blocked = spawn_blocker(tid, outcome, waited, shutdown_called, shutdown_time, [&q] { return q.get(); });
  }
  ASSERT_TRUE(eventually([&] { return asleep_in_queue(tid, q); }));
  shutdown_time = Clock::now();
  shutdown_called = true;
  q.shutdown(true);
  blocked.join();
  EXPECT_EQ(outcome.load(), Outcome::kShutDown);
  EXPECT_LT(waited.load(), kPrompt);
  EXPECT_EQ(q.qsize(), 0u);
  EXPECT_EQ(q.unfinished_tasks(), 0u);
  q.join();
}

TYPED_TEST(Shutdown, ConsumersDrainAndStopOnShutDown) {
  // The Python 3.13 idiom: workers loop on get() until ShutDown; the producer puts, then
  // shuts the queue down; every item put is gotten exactly once.
  typename TypeParam::template Q<int> q(TypeParam::maxsize);
  constexpr int kConsumers = 3;
  constexpr int kItems = 3000;
  std::vector<std::atomic<int>> seen(kItems);
  std::atomic<int> stopped{0};
  std::vector<std::thread> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&] {
      try {
        for (;;) {
          int x = q.get();
          seen[x].fetch_add(1);
          q.task_done();
        }
      } catch (const queue::ShutDown&) {
        stopped.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < kItems; ++i) q.put(i);
  q.shutdown();
  q.join();
  for (auto& t : consumers) t.join();
  EXPECT_EQ(stopped.load(), kConsumers);
  for (int i = 0; i < kItems; ++i) ASSERT_EQ(seen[i].load(), 1) << i;
  EXPECT_EQ(q.unfinished_tasks(), 0u);
}

// ---------------------------------------------------------------------------------------
// A put in progress when shutdown() runs (its element still being moved in): shutdown()
// waits for it to land, as Python's waits for the queue's mutex, so the put is accepted
// and the getters see its item before "shut down".

TEST(ShutdownDuringAPut, EveryBlockedGetterWakesOnceThePutLands) {
  queue::Queue<pyconc_test::HeldMove> q(4);
  pyconc_test::MoveGate gate;
  constexpr int kGetters = 2;
  std::atomic<long> tids[kGetters] = {};
  std::atomic<int> outcomes[kGetters];
  std::atomic<double> waited[kGetters];
  std::atomic<bool> released{false};
  Clock::time_point release_time{};
  std::vector<std::thread> getters;
  for (int i = 0; i < kGetters; ++i) {
    outcomes[i] = Outcome::kNone;
    waited[i] = -1;
    getters.push_back(
        spawn_blocker(tids[i], outcomes[i], waited[i], released, release_time, [&q] { return q.get(20s).value; }));
  }
  for (int i = 0; i < kGetters; ++i) ASSERT_TRUE(eventually([&] { return asleep_in_queue(tids[i], q); }));

  std::atomic<bool> put_returned{false};
  std::thread producer([&] {
    q.put(pyconc_test::HeldMove(&gate, 7));  // held in its move into the queue
    put_returned = true;
  });
  ASSERT_TRUE(gate.entered.wait(30s));
  threading::Event calling;
  std::thread shutter([&] {
    calling.set();
    q.shutdown();
  });
  ASSERT_TRUE(calling.wait(30s));
  EXPECT_FALSE(q.is_shutdown()) << "shutdown() waits for the put in progress";
  EXPECT_FALSE(put_returned.load());
  release_time = Clock::now();
  released = true;
  gate.release.set();
  producer.join();
  shutter.join();
  for (auto& t : getters) t.join();
  EXPECT_TRUE(put_returned.load());
  EXPECT_TRUE(q.is_shutdown());
  // One getter takes the item; the other sees "shut down and empty" at once, not after
  // its timeout.
  std::multiset<int> got = {outcomes[0].load(), outcomes[1].load()};
  EXPECT_EQ(got, (std::multiset<int>{Outcome::kShutDown, 7}));
  for (int i = 0; i < kGetters; ++i) EXPECT_LT(waited[i].load(), kPrompt) << i;
}

TEST(ShutdownDuringAPut, ImmediateShutdownWaitsForThePutAndDiscardsIt) {
  queue::Queue<pyconc_test::HeldMove> q(4);
  pyconc_test::MoveGate gate;
  std::atomic<long> tid{0};
  std::atomic<int> outcome{Outcome::kNone};
  std::atomic<double> waited{-1};
  std::atomic<bool> released{false};
  Clock::time_point release_time{};
  std::thread getter = spawn_blocker(tid, outcome, waited, released, release_time, [&q] { return q.get(20s).value; });
  ASSERT_TRUE(eventually([&] { return asleep_in_queue(tid, q); }));
  std::atomic<bool> put_returned{false};
  std::thread producer([&] {
    q.put(pyconc_test::HeldMove(&gate, 7));  // accepted before the shutdown: returns normally
    put_returned = true;
  });
  ASSERT_TRUE(gate.entered.wait(30s));
  threading::Event calling;
  std::atomic<bool> shut{false};
  std::thread shutter([&] {
    calling.set();
    q.shutdown(true);
    shut = true;
  });
  ASSERT_TRUE(calling.wait(30s));
  EXPECT_FALSE(q.is_shutdown()) << "shutdown() waits for the put in progress";
  release_time = Clock::now();
  released = true;
  gate.release.set();
  producer.join();
  shutter.join();
  getter.join();
  EXPECT_TRUE(put_returned.load());
  EXPECT_TRUE(shut.load());
  // Either the getter got the item before the discard, or the discard took it.
  int o = outcome.load();
  EXPECT_TRUE(o == 7 || o == Outcome::kShutDown) << o;
  EXPECT_LT(waited.load(), kPrompt);
  EXPECT_EQ(q.qsize(), 0u);
  EXPECT_EQ(q.unfinished_tasks(), o == 7 ? 1u : 0u);
}
