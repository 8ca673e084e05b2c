// multiprocessing.Queue / JoinableQueue / SimpleQueue: every call in one process, and the
// queues as Process arguments under every start method. Across fork() children:
// test_queue_fork.cpp; a killed producer or consumer, corrupt bytes: test_queue_robust.cpp.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/syscall.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <chrono>
#include <map>
#include <new>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mp_queue_support.hpp"
#include "mp_support.hpp"
#include "pyconc/multiprocessing/context.hpp"
#include "pyconc/multiprocessing/detail/shared_segment.hpp"
#include "pyconc/multiprocessing/process.hpp"
#include "pyconc/multiprocessing/queues.hpp"

using namespace std::chrono_literals;
namespace mp = pyconc::multiprocessing;
using pyconc::ValueError;
using pyconc::queue::Empty;
using pyconc::queue::Full;
using pyconc_test::block_of;
using pyconc_test::checksum;
using pyconc_test::elapsed;

namespace {

// ---- one process ---------------------------------------------------------------------

TEST(MpQueue, PutGetFifo) {
  mp::Queue<int> q;
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.full());
  EXPECT_EQ(q.qsize(), 0u);
  for (int i = 0; i < 100; ++i) q.put(i);
  EXPECT_EQ(q.qsize(), 100u);
  EXPECT_FALSE(q.empty());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(q.get(), i);
  EXPECT_TRUE(q.empty());
}

TEST(MpQueue, ItemsOfEveryKind) {
  mp::Queue<std::string> s;
  s.put("hello");
  s.put("");
  s.put(std::string(100000, 'x'));
  EXPECT_EQ(s.get(), "hello");
  EXPECT_EQ(s.get(), "");
  EXPECT_EQ(s.get(), std::string(100000, 'x'));

  mp::Queue<std::map<std::string, std::vector<int>>> m;
  std::map<std::string, std::vector<int>> v{{"a", {1, 2}}, {"b", {}}};
  m.put(v);
  EXPECT_EQ(m.get(), v);

  struct Point {
    double x, y;
    int id;
  };
  mp::Queue<Point> p;
  p.put(Point{1.5, -2, 7});
  Point got = p.get();
  EXPECT_EQ(got.x, 1.5);
  EXPECT_EQ(got.y, -2);
  EXPECT_EQ(got.id, 7);

  mp::Queue<std::vector<double>> d;
  d.put({});
  d.put({1, 2, 3});
  EXPECT_TRUE(d.get().empty());
  EXPECT_EQ(d.get(), (std::vector<double>{1, 2, 3}));
}

TEST(MpQueue, EmptyAndFullRaise) {
  mp::Queue<int> q(2);
  EXPECT_EQ(q.maxsize(), 2);
  EXPECT_THROW(q.get_nowait(), Empty);
  EXPECT_THROW(q.get(false), Empty);
  EXPECT_FALSE(q.try_get().has_value());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(q.get(0.05s), Empty);
  EXPECT_GE(elapsed(t0), 0.045);
  EXPECT_THROW(q.get(true, -1s), Empty);  // negative: do not wait
  q.put(1);
  q.put_nowait(2);
  EXPECT_TRUE(q.full());
  EXPECT_THROW(q.put_nowait(3), Full);
  EXPECT_THROW(q.put(3, false), Full);
  EXPECT_FALSE(q.try_put(3));
  t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(q.put(3, 0.05s), Full);
  EXPECT_GE(elapsed(t0), 0.045);
  EXPECT_THROW(q.put(3, true, -0.5s), Full);
  EXPECT_EQ(q.get(), 1);
  EXPECT_TRUE(q.try_put(3));
  EXPECT_EQ(q.try_get(), 2);
  EXPECT_EQ(q.get(false), 3);
  EXPECT_EQ(q.qsize(), 0u);
}

TEST(MpQueue, UnboundedMaxsize) {
  mp::Queue<int> q(0);
  mp::Queue<int> r(-5);
  EXPECT_EQ(q.maxsize(), 0);
  EXPECT_EQ(r.maxsize(), 0);
  for (int i = 0; i < 1000; ++i) r.put_nowait(i);
  EXPECT_FALSE(r.full());
  EXPECT_EQ(r.qsize(), 1000u);
}

TEST(MpQueue, RingBytesBoundEvenUnbounded) {
  mp::Queue<std::string> q(0, {.buffer_bytes = 4096});
  std::string item(1000, 'a');
  int n = 0;
  while (q.try_put(item)) ++n;
  EXPECT_GE(n, 3);
  EXPECT_THROW(q.put(item, 0.01s), Full);
  for (int i = 0; i < n; ++i) EXPECT_EQ(q.get(), item);
  EXPECT_THROW(q.get_nowait(), Empty);
}

TEST(MpQueue, BufferBytesValidated) {
  EXPECT_THROW(mp::Queue<int>(0, {.buffer_bytes = (std::size_t{1} << 30) + 1}), ValueError);
  mp::Queue<int> tiny(0, {.buffer_bytes = 1});
  tiny.put(5);
  EXPECT_EQ(tiny.get(), 5);
}

TEST(MpQueue, LargeItemsStreamedInOneProcessWithThreads) {
  mp::Queue<std::vector<std::uint64_t>> q(0, {.buffer_bytes = 64 * 1024});
  constexpr int kItems = 8;
  std::thread consumer([&] {
    for (int i = 0; i < kItems; ++i) {
      auto v = q.get();
      EXPECT_EQ(v.size(), 100000u + i);
      EXPECT_EQ(checksum(v), checksum(block_of(100000 + i, i)));
    }
  });
  for (int i = 0; i < kItems; ++i) q.put(block_of(100000 + i, i));
  consumer.join();
}

TEST(MpQueue, LargePutTimesOutWithoutConsumerAndQueueStaysUsable) {
  mp::Queue<std::string> q(0, {.buffer_bytes = 4096});
  q.put("before");
  EXPECT_THROW(q.put(std::string(100000, 'z'), 0.05s), Full);  // streamed in part, aborted
  EXPECT_THROW(q.put_nowait(std::string(100000, 'z')), Full);
  EXPECT_EQ(q.get(), "before");
  q.put("after");
  EXPECT_EQ(q.get(), "after");
  EXPECT_EQ(q.qsize(), 0u);
}

TEST(MpQueue, WrongTypeRaisesValueError) {
  mp::Queue<std::string> q;
  q.put("abc");
  // Open the same queue as another item type (as a mistaken child would).
  auto bytes = pyconc::pickle::dumps(q);
  auto as_int = pyconc::pickle::loads<mp::Queue<std::int64_t>>(bytes);
  EXPECT_THROW(as_int.get(), ValueError);
  q.put("def");
  EXPECT_EQ(q.get(), "def");
}

TEST(MpQueue, CloseAndJoinThread) {
  mp::Queue<int> q;
  EXPECT_THROW(q.join_thread(), pyconc::RuntimeError);
  q.put(1);
  mp::Queue<int> copy = q;
  q.close();
  EXPECT_THROW(q.put(2), ValueError);
  EXPECT_THROW(copy.get(), ValueError);  // copies in this process share the flag
  EXPECT_THROW(q.try_put(2), ValueError);
  EXPECT_THROW(q.get_nowait(), ValueError);
  EXPECT_NO_THROW(q.join_thread());
  q.cancel_join_thread();
  EXPECT_EQ(q.qsize(), 1u);
  // Another process's handle (a loaded copy) is not closed.
  auto other = pyconc::pickle::loads<mp::Queue<int>>(pyconc::pickle::dumps(q));
  EXPECT_EQ(other.get(), 1);
}

TEST(MpQueue, OpeningAnotherKindIsValueError) {
  mp::Queue<int> q;
  auto bytes = pyconc::pickle::dumps(q);
  EXPECT_THROW(pyconc::pickle::loads<mp::JoinableQueue<int>>(bytes), ValueError);
  EXPECT_THROW(pyconc::pickle::loads<mp::SimpleQueue<int>>(bytes), ValueError);
}

TEST(MpJoinableQueue, TaskDoneAndJoin) {
  mp::JoinableQueue<int> q;
  EXPECT_THROW(q.task_done(), ValueError);
  q.join();  // nothing unfinished
  q.put(1);
  q.put(2);
  EXPECT_EQ(q.unfinished_tasks(), 2u);
  std::thread worker([&] {
    for (int i = 0; i < 2; ++i) {
      q.get();
      q.task_done();
    }
  });
  q.join();
  EXPECT_EQ(q.unfinished_tasks(), 0u);
  worker.join();
  EXPECT_THROW(q.task_done(), ValueError);
}

TEST(MpSimpleQueue, Calls) {
  mp::SimpleQueue<std::string> q;
  EXPECT_TRUE(q.empty());
  q.put("a");
  EXPECT_TRUE(q.try_put("b"));
  EXPECT_FALSE(q.empty());
  EXPECT_EQ(q.get(), "a");
  EXPECT_EQ(q.try_get(), "b");
  EXPECT_FALSE(q.try_get().has_value());
  q.close();
  EXPECT_THROW(q.get(), pyconc::OSError);
  EXPECT_THROW(q.put("c"), pyconc::OSError);
  EXPECT_THROW(q.empty(), pyconc::OSError);
}

TEST(MpQueue, CloseWakesCallersBlockedInGetAndPut) {
  // close() interrupts what is blocked on the handle in this process
  // (docs/conventions.md, "Thread safety").
  mp::Queue<int> empty;
  mp::Queue<int> full(1);
  full.put(0);
  std::atomic<long> getter_tid{0}, putter_tid{0};
  std::atomic<int> raised{0};
  std::thread getter([&] {
    getter_tid = ::syscall(SYS_gettid);
    try {
      empty.get();
    } catch (const ValueError&) {
      ++raised;
    }
  });
  std::thread putter([&] {
    putter_tid = ::syscall(SYS_gettid);
    try {
      full.put(1);
    } catch (const ValueError&) {
      ++raised;
    }
  });
  ASSERT_TRUE(pyconc_test::eventually([&] {
    return getter_tid != 0 && putter_tid != 0 && pyconc_test::asleep_in_futex(getter_tid) &&
           pyconc_test::asleep_in_futex(putter_tid);
  }));
  empty.close();
  full.close();
  getter.join();
  putter.join();
  EXPECT_EQ(raised.load(), 2);
}

TEST(MpSimpleQueue, CloseWakesACallerBlockedInGet) {
  mp::SimpleQueue<int> q;
  std::atomic<long> tid{0};
  std::atomic<bool> raised{false};
  std::thread getter([&] {
    tid = ::syscall(SYS_gettid);
    try {
      q.get();
    } catch (const pyconc::OSError& e) {
      raised = e.errnum() == EBADF;
    }
  });
  ASSERT_TRUE(pyconc_test::eventually([&] { return tid != 0 && pyconc_test::asleep_in_futex(tid); }));
  q.close();
  getter.join();
  EXPECT_TRUE(raised.load());
}

}  // namespace

// ---- as a Process argument, under every start method -----------------------------------

namespace {

void put_range(mp::Queue<long> q, long n) {
  for (long i = 0; i < n; ++i) q.put(i);
}

void echo_doubled(mp::JoinableQueue<int> in, mp::SimpleQueue<int> out) {
  for (;;) {
    int x = in.get();
    in.task_done();
    if (x < 0) return;
    out.put(2 * x);
  }
}

class MpQueueProcess : public ::testing::TestWithParam<std::string> {};

TEST_P(MpQueueProcess, ChildPutsParentGets) {
  auto ctx = mp::get_context(GetParam());
  mp::Queue<long> q(4);
  auto p = ctx.Process(put_range, q, 1000L);
  p.start();
  bool ordered = true;
  for (long i = 0; i < 1000; ++i) ordered &= q.get(10s) == i;
  EXPECT_TRUE(ordered);
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(MpQueueProcess, JoinableAndSimpleAsArguments) {
  auto ctx = mp::get_context(GetParam());
  mp::JoinableQueue<int> in;
  mp::SimpleQueue<int> out;
  auto p = ctx.Process(echo_doubled, in, out);
  p.start();
  for (int i = 0; i < 50; ++i) in.put(i);
  in.put(-1);
  in.join();
  EXPECT_EQ(in.unfinished_tasks(), 0u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(out.get(), 2 * i);
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

INSTANTIATE_TEST_SUITE_P(Methods, MpQueueProcess, ::testing::ValuesIn(pyconc_test::start_methods()),
                         pyconc_test::method_name);

}  // namespace
