// Stress tests for the queue module: many producers and consumers on bounded (small and
// large, power of two or not) and unbounded queues, every item delivered exactly once,
// task_done/join accounting exact, shutdown under load.
#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <pyconc/errors.hpp>
#include <pyconc/queue.hpp>
#include <pyconc/threading.hpp>

#include "support.hpp"

namespace queue = pyconc::queue;
namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::Clock;
using pyconc_test::eventually;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;

namespace {

constexpr int kProducers = 4;
constexpr int kConsumers = 4;
constexpr int kPerProducer = 20000;
constexpr int kStop = -1;

/// Puts `x` with one of the queue's put flavours, chosen by `how`; retries the ones that
/// may fail on a full queue.
template <class Q>
void put_somehow(Q& q, int x, int how) {
  switch (how % 8) {
    case 4:
      for (;;) {
        try {
          q.put(x, 2ms);
          return;
        } catch (const queue::Full&) {
        }
      }
    case 5:
      for (;;) {
        try {
          q.put(x, true, 0.002s);
          return;
        } catch (const queue::Full&) {
        }
      }
    case 6:
      for (;;) {
        try {
          q.put_nowait(x);
          return;
        } catch (const queue::Full&) {
          std::this_thread::yield();
        }
      }
    case 7:
      while (!q.try_put(x)) std::this_thread::yield();
      return;
    default:
      q.put(x);
      return;
  }
}

/// Gets with one of the queue's get flavours, chosen by `how`; retries on Empty.
template <class Q>
int get_somehow(Q& q, int how) {
  switch (how % 8) {
    case 4:
      for (;;) {
        try {
          return q.get(2ms);
        } catch (const queue::Empty&) {
        }
      }
    case 5:
      for (;;) {
        try {
          return q.get(true, 0.002s);
        } catch (const queue::Empty&) {
        }
      }
    case 6:
      for (;;) {
        try {
          return q.get_nowait();
        } catch (const queue::Empty&) {
          std::this_thread::yield();
        }
      }
    case 7:
      for (;;) {
        if (auto x = q.try_get()) return *x;
        std::this_thread::yield();
      }
    default:
      return q.get();
  }
}

/// Runs kProducers x kConsumers over `q`, stopping consumers with one kStop each, and
/// checks exactly-once delivery and the task accounting. `fifo`: also check that each
/// consumer sees each producer's items in the order they were put.
template <class Q>
void run_mpmc(Q& q, bool fifo) {
  // maxsize 1 hands over every item alone: fewer items keep it as quick as the others.
  const int per_producer = q.maxsize() == 1 ? kPerProducer / 4 : kPerProducer;
  const int total = kProducers * per_producer;
  std::vector<std::atomic<std::uint8_t>> seen(total);
  std::atomic<long long> sum{0};
  std::atomic<int> count{0};
  std::atomic<int> order_errors{0};
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i) put_somehow(q, p * per_producer + i, i + p);
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&, c] {
      std::vector<int> last(kProducers, -1);
      for (int n = 0;; ++n) {
        int x = get_somehow(q, n + c);
        if (x == kStop) {
          q.task_done();
          return;
        }
        if (x < 0 || x >= total) {
          order_errors.fetch_add(1);
        } else {
          seen[x].fetch_add(1, std::memory_order_relaxed);
          int p = x / per_producer, i = x % per_producer;
          if (fifo && i <= last[p]) order_errors.fetch_add(1);
          last[p] = i;
          sum.fetch_add(x, std::memory_order_relaxed);
          count.fetch_add(1, std::memory_order_relaxed);
        }
        q.task_done();
      }
    });
  }
  for (int p = 0; p < kProducers; ++p) threads[p].join();
  q.join();  // every item put is done (LIFO and priority order: before the stop markers)
  EXPECT_EQ(count.load(), total);
  EXPECT_EQ(q.unfinished_tasks(), 0u);
  for (int c = 0; c < kConsumers; ++c) q.put(kStop);
  q.join();  // and every stop marker
  for (int c = 0; c < kConsumers; ++c) threads[kProducers + c].join();
  EXPECT_EQ(q.unfinished_tasks(), 0u);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(order_errors.load(), 0);
  EXPECT_EQ(count.load(), total);
  EXPECT_EQ(sum.load(), static_cast<long long>(total) * (total - 1) / 2);
  int missing = 0, duplicated = 0;
  for (int i = 0; i < total; ++i) {
    int s = seen[i].load();
    if (s == 0) ++missing;
    if (s > 1) ++duplicated;
  }
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(duplicated, 0);
  EXPECT_THROW(q.task_done(), pyconc::ValueError);
  EXPECT_LT(seconds_since(start), 120.0);
}

class QueueStress : public ::testing::TestWithParam<long long> {};

INSTANTIATE_TEST_SUITE_P(Sizes, QueueStress, ::testing::Values(1LL, 4LL, 5LL, 1024LL, 0LL),
                         [](const auto& info) { return "max" + std::to_string(info.param); });

/// An item whose constructions and destructions are counted, to find leaks and double
/// destruction under concurrency (cheap: two atomics).
struct Counted {
  static std::atomic<long>& live() {
    static std::atomic<long> n{0};
    return n;
  }
  explicit Counted(int v) : value(v) { live().fetch_add(1, std::memory_order_relaxed); }
  Counted(Counted&& other) noexcept : value(other.value) { live().fetch_add(1, std::memory_order_relaxed); }
  Counted& operator=(Counted&& other) noexcept {
    value = other.value;
    return *this;
  }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  ~Counted() { live().fetch_sub(1, std::memory_order_relaxed); }
  friend bool operator<(const Counted& a, const Counted& b) { return a.value < b.value; }
  int value;
};

/// Producers put until the queue is shut down under them (immediately), consumers get
/// until ShutDown; join() must return although discarded items got no task_done().
template <class Q>
void run_immediate_shutdown_under_load(Q& q) {
  std::atomic<long> put_ok{0};
  std::atomic<long> gotten{0};
  std::atomic<int> producers_stopped{0}, consumers_stopped{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      try {
        for (int i = 0;; ++i) {
          if ((i + p) % 4 == 3) {
            try {
              q.put(Counted(i), 1ms);
            } catch (const queue::Full&) {
              continue;  // timed out on a full queue: the item was not put
            }
          } else {
            q.put(Counted(i));
          }
          put_ok.fetch_add(1);
        }
      } catch (const queue::ShutDown&) {
        producers_stopped.fetch_add(1);
      }
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&, c] {
      try {
        for (int n = 0;; ++n) {
          std::optional<Counted> x;
          if ((n + c) % 4 == 3) {
            try {
              x.emplace(q.get(2ms));
            } catch (const queue::Empty&) {
              continue;
            }
          } else {
            x.emplace(q.get());
          }
          gotten.fetch_add(1);
          q.task_done();
        }
      } catch (const queue::ShutDown&) {
        consumers_stopped.fetch_add(1);
      }
    });
  }
  ASSERT_TRUE(eventually([&] { return gotten.load() > 5000; }, 60s));
  auto start = Clock::now();
  q.shutdown(true);
  q.join();
  EXPECT_LT(seconds_since(start), kPrompt);
  for (auto& t : threads) t.join();
  EXPECT_EQ(producers_stopped.load(), kProducers);
  EXPECT_EQ(consumers_stopped.load(), kConsumers);
  EXPECT_LE(gotten.load(), put_ok.load());
  EXPECT_EQ(q.qsize(), 0u);
  EXPECT_EQ(q.unfinished_tasks(), 0u);
  EXPECT_EQ(Counted::live().load(), 0);  // every item put was destroyed exactly once
}

}  // namespace

TEST_P(QueueStress, ManyProducersManyConsumers) {
  queue::Queue<int> q(GetParam());
  run_mpmc(q, /*fifo=*/true);
}

TEST_P(QueueStress, LifoQueue) {
  queue::LifoQueue<int> q(GetParam());
  run_mpmc(q, /*fifo=*/false);
}

TEST_P(QueueStress, PriorityQueue) {
  queue::PriorityQueue<int> q(GetParam());
  run_mpmc(q, /*fifo=*/false);
}

TEST_P(QueueStress, ShutdownEndsConsumersAfterTheLastItem) {
  // No stop markers: the producers' shutdown() ends the consumers, which must still get
  // every item that was put (none lost to a put in flight during the shutdown).
  queue::Queue<int> q(GetParam());
  const int total = kProducers * kPerProducer / 2;
  std::vector<std::atomic<std::uint8_t>> seen(total);
  std::atomic<int> producers_left{kProducers};
  std::atomic<int> stopped{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = p; i < total; i += kProducers) put_somehow(q, i, i);
      if (producers_left.fetch_sub(1) == 1) q.shutdown();  // the last one out shuts down
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&, c] {
      try {
        for (int n = c;; ++n) {
          int x = n % 4 == 1 ? q.get(true, 5s) : q.get();
          seen[x].fetch_add(1, std::memory_order_relaxed);
          q.task_done();
        }
      } catch (const queue::ShutDown&) {
        stopped.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  q.join();
  EXPECT_EQ(stopped.load(), kConsumers);
  int bad = 0;
  for (int i = 0; i < total; ++i) bad += seen[i].load() != 1;
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(q.unfinished_tasks(), 0u);
}

TEST_P(QueueStress, ShutdownRacingWithPuts) {
  // shutdown() lands while producers are putting: every put that returned normally is
  // gotten exactly once, every other put raised ShutDown, and getters all stop.
  queue::Queue<int> q(GetParam());
  constexpr int kLimit = kPerProducer;
  std::vector<std::atomic<std::uint8_t>> accepted(kProducers * kLimit);
  std::vector<std::atomic<std::uint8_t>> seen(kProducers * kLimit);
  std::atomic<long> gotten{0};
  std::atomic<int> stopped{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      try {
        for (int i = 0; i < kLimit; ++i) {
          int x = p * kLimit + i;
          q.put(x);
          accepted[x] = 1;
        }
      } catch (const queue::ShutDown&) {
      }
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      try {
        for (;;) {
          int x = q.get();
          seen[x].fetch_add(1, std::memory_order_relaxed);
          gotten.fetch_add(1);
          q.task_done();
        }
      } catch (const queue::ShutDown&) {
        stopped.fetch_add(1);
      }
    });
  }
  ASSERT_TRUE(eventually([&] { return gotten.load() > 2000; }, 60s));
  q.shutdown();
  for (auto& t : threads) t.join();
  q.join();
  EXPECT_EQ(stopped.load(), kConsumers);
  int bad = 0;
  for (std::size_t i = 0; i < seen.size(); ++i) bad += seen[i].load() != accepted[i].load();
  EXPECT_EQ(bad, 0);
}

TEST_P(QueueStress, ImmediateShutdownUnderLoadQueue) {
  {
    queue::Queue<Counted> q(GetParam());
    run_immediate_shutdown_under_load(q);
  }
  EXPECT_EQ(Counted::live().load(), 0);
}

TEST_P(QueueStress, ImmediateShutdownUnderLoadLifoQueue) {
  {
    queue::LifoQueue<Counted> q(GetParam());
    run_immediate_shutdown_under_load(q);
  }
  EXPECT_EQ(Counted::live().load(), 0);
}

TEST_P(QueueStress, ImmediateShutdownUnderLoadPriorityQueue) {
  {
    queue::PriorityQueue<Counted> q(GetParam());
    run_immediate_shutdown_under_load(q);
  }
  EXPECT_EQ(Counted::live().load(), 0);
}

TEST(QueueStress, MoveOnlyItemsThroughABoundedRing) {
  queue::Queue<std::unique_ptr<std::vector<int>>> q(8);
  constexpr int kItems = 20000;
  std::atomic<long long> sum{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < 2; ++p) {
    threads.emplace_back([&, p] {
      for (int i = p; i < kItems; i += 2) q.put(std::make_unique<std::vector<int>>(4, i));
    });
  }
  for (int c = 0; c < 2; ++c) {
    threads.emplace_back([&] {
      for (;;) {
        auto v = q.get();
        if (!v) return;
        EXPECT_EQ(v->size(), 4u);
        sum.fetch_add((*v)[3]);
      }
    });
  }
  threads[0].join();
  threads[1].join();
  q.put(nullptr);
  q.put(nullptr);
  threads[2].join();
  threads[3].join();
  EXPECT_EQ(sum.load(), static_cast<long long>(kItems) * (kItems - 1) / 2);
}

TEST(QueueStress, SimpleQueueManyProducersManyConsumers) {
  queue::SimpleQueue<int> q;
  const int total = kProducers * kPerProducer;
  std::vector<std::atomic<std::uint8_t>> seen(total);
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) q.put(p * kPerProducer + i);
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&, c] {
      for (int n = c;; ++n) {
        int x = n % 3 == 0 ? q.get(5s) : q.get();
        if (x == kStop) return;
        seen[x].fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (int p = 0; p < kProducers; ++p) threads[p].join();
  for (int c = 0; c < kConsumers; ++c) q.put(kStop);
  for (int c = 0; c < kConsumers; ++c) threads[kProducers + c].join();
  int bad = 0;
  for (int i = 0; i < total; ++i) bad += seen[i].load() != 1;
  EXPECT_EQ(bad, 0);
  EXPECT_TRUE(q.empty());
}

// ---------------------------------------------------------------------------------------
// Hand-over under preemption: more threads than cores on a tiny queue, so that putters
// and getters keep falling asleep and waking each other. A lost wake-up leaves both
// sides asleep with work to do; the watchdog then reports it and shuts the queue down so
// that every thread ends.

namespace {

template <class Q>
void hand_over(long long maxsize, int rounds, int items) {
  constexpr int kThreadsEachSide = 3;
  for (int round = 0; round < rounds; ++round) {
    Q q(maxsize);
    std::atomic<int> gotten{0};
    threading::Event all_gotten;
    std::vector<std::thread> threads;
    for (int p = 0; p < kThreadsEachSide; ++p) {
      threads.emplace_back([&, p] {
        try {
          for (int i = p; i < items; i += kThreadsEachSide) q.put(i);
        } catch (const queue::ShutDown&) {
        }
      });
    }
    for (int c = 0; c < kThreadsEachSide; ++c) {
      threads.emplace_back([&] {
        try {
          for (;;) {
            (void)q.get();
            if (gotten.fetch_add(1) + 1 == items) all_gotten.set();
          }
        } catch (const queue::ShutDown&) {
        }
      });
    }
    bool finished = all_gotten.wait(60s);
    if (!finished) {
      ADD_FAILURE() << "round " << round << " (maxsize " << maxsize << "): stuck after " << gotten.load() << " of "
                    << items << " items with qsize() == " << q.qsize()
                    << ": putters and getters asleep with work to do (a lost wake-up)";
    }
    q.shutdown(!finished);
    for (auto& t : threads) t.join();
    if (!finished) return;
  }
}

}  // namespace

TEST(QueueStress, HandOverNeverLosesAWakeUp) {
  for (long long maxsize : {2LL, 3LL, 8LL, 0LL}) hand_over<queue::Queue<int>>(maxsize, 20, 2000);
}

// On one CPU a woken thread often waits for the waker to block before it runs: the
// window where a wake-up is pending but not yet taken, which the event count counts to
// spare system calls, is wide open here.
TEST(QueueStress, HandOverNeverLosesAWakeUpOnOneCpu) {
  cpu_set_t old_set;
  ASSERT_EQ(sched_getaffinity(0, sizeof old_set, &old_set), 0);
  int cpu = 0;
  while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &old_set)) ++cpu;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);  // this thread; new threads inherit it
  for (long long maxsize : {2LL, 8LL, 0LL}) hand_over<queue::Queue<int>>(maxsize, 10, 2000);
  hand_over<queue::PriorityQueue<int>>(2, 5, 2000);
  sched_setaffinity(0, sizeof old_set, &old_set);
}

TEST(QueueStress, HandOverNeverLosesAWakeUpLifoPriority) {
  hand_over<queue::LifoQueue<int>>(2, 12, 2000);
  hand_over<queue::PriorityQueue<int>>(2, 12, 2000);
  hand_over<queue::PriorityQueue<int>>(0, 12, 2000);
}

TEST(QueueStress, HandOverNeverLosesAWakeUpSimpleQueue) {
  // SimpleQueue has no shutdown: its consumers stop on a marker instead.
  for (int round = 0; round < 30; ++round) {
    queue::SimpleQueue<int> q;
    std::atomic<int> gotten{0};
    std::vector<std::thread> threads;
    for (int p = 0; p < 3; ++p) {
      threads.emplace_back([&, p] {
        for (int i = p; i < 3000; i += 3) q.put(i);
      });
    }
    for (int c = 0; c < 3; ++c) {
      threads.emplace_back([&] {
        try {
          for (;;) {
            int x = q.get(60s);  // a lost wake-up shows as Empty here rather than a hang
            if (x < 0) return;
            gotten.fetch_add(1);
          }
        } catch (const queue::Empty&) {
          ADD_FAILURE() << "a getter waited 60 s with items put: a lost wake-up";
        }
      });
    }
    for (int p = 0; p < 3; ++p) threads[p].join();
    for (int c = 0; c < 3; ++c) q.put(-1);
    for (int c = 0; c < 3; ++c) threads[3 + c].join();
    ASSERT_EQ(gotten.load(), 3000);
  }
}

// ---------------------------------------------------------------------------------------
// An unbounded queue is a chain of segments: putters link a new one when theirs is full,
// getters leave the old one behind (keeping one spare for the putters). One putter in
// bursts of several segments, getters that pause at random: each getter sees the
// putter's items in order, none is lost or seen twice, and a segment reused while the
// queue drains and refills keeps nothing stale.

TEST(QueueStress, UnboundedQueueKeepsEachPuttersOrderAcrossItsSegments) {
  constexpr int kGetters = 4, kItems = 100000, kBurst = 3000;  // a segment holds 1024 ints
  queue::Queue<int> q;  // unbounded
  std::atomic<int> order_errors{0}, got{0};
  std::vector<std::atomic<int>> seen(kItems);
  std::vector<std::thread> getters;
  for (int g = 0; g < kGetters; ++g)
    getters.emplace_back([&, g] {
      int last = -1;
      unsigned rng = 12345u + static_cast<unsigned>(g);
      for (;;) {
        int x = q.get();
        if (x < 0) return;
        if (x <= last) order_errors.fetch_add(1);
        last = x;
        got.fetch_add(1);
        seen[static_cast<std::size_t>(x)].fetch_add(1);
        rng = rng * 1103515245u + 12345u;
        if ((rng >> 16) % 16 == 0) std::this_thread::yield();  // be late now and then
      }
    });
  for (int i = 0; i < kItems;) {
    for (int b = 0; b < kBurst && i < kItems; ++b) q.put(i++);
    while (q.qsize() > 300) std::this_thread::yield();  // drain to less than a segment, refill
  }
  for (int g = 0; g < kGetters; ++g) q.put(-1);
  for (auto& t : getters) t.join();
  EXPECT_EQ(got.load(), kItems);
  EXPECT_EQ(order_errors.load(), 0);
  EXPECT_TRUE(q.empty());
  for (int i = 0; i < kItems; ++i) ASSERT_EQ(seen[static_cast<std::size_t>(i)].load(), 1) << i;
}
