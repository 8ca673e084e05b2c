// Tests for Python 3.13's Queue.shutdown(immediate) on queue::Queue, queue::LifoQueue and
// queue::PriorityQueue: the callers blocked in get, put and join when it runs, and a put
// in progress.
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
using pyconc_test::eventually;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;

using pyconc_test::Kinds;
using pyconc_test::KindNames;
using pyconc_test::Outcome;
using pyconc_test::Shutdown;
using pyconc_test::asleep_in_queue;
using pyconc_test::spawn_blocker;

TYPED_TEST_SUITE(Shutdown, Kinds, KindNames);

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
