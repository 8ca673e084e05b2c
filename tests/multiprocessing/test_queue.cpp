// multiprocessing.Queue / JoinableQueue / SimpleQueue: every call in one process, then
// across fork() children, then the robustness cases (a killed producer or consumer,
// corrupt bytes in the ring).
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
using pyconc_test::exited_ok;
using pyconc_test::Reaper;
using pyconc_test::run_forked;

namespace {

// A few flags in shared memory, for "wait until the other process got there".
struct Flags {
  std::atomic<int> step{0};
  std::atomic<long> value{0};
};
struct SharedFlags {
  std::shared_ptr<mp::detail::SharedSegment> segment = mp::detail::SharedSegment::create(4096);
  Flags* f = new (segment->data()) Flags;
};

// Whether process `pid` (single-threaded) sleeps in a futex wait now.
bool process_asleep_in_futex(pid_t pid) { return pyconc_test::process_asleep_in(pid, {SYS_futex}); }

double elapsed(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::uint64_t checksum(const std::vector<std::uint64_t>& v) {
  std::uint64_t h = 1469598103934665603ull;
  for (auto x : v) h = (h ^ x) * 1099511628211ull;
  return h;
}

std::vector<std::uint64_t> block_of(std::size_t words, std::uint64_t seed) {
  std::vector<std::uint64_t> v(words);
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& w : v) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    w = x;
  }
  return v;
}

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

// ---- across processes (fork) ---------------------------------------------------------

TEST(MpQueueFork, ProducerConsumerOrdering) {
  mp::Queue<long> q(16);
  constexpr long kN = 20000;
  pid_t child = ::fork();
  if (child == 0) {
    for (long i = 0; i < kN; ++i) q.put(i);
    ::_exit(0);
  }
  bool ordered = true;
  for (long i = 0; i < kN; ++i) ordered &= q.get() == i;
  EXPECT_TRUE(ordered);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(exited_ok(status));
}

TEST(MpQueueFork, TwoProducersTwoConsumers) {
  mp::Queue<long> q(8);
  mp::Queue<long> sums;
  constexpr long kN = 5000;
  std::vector<pid_t> kids;
  for (int p = 0; p < 2; ++p) {
    pid_t c = ::fork();
    if (c == 0) {
      for (long i = 1; i <= kN; ++i) q.put(i);
      ::_exit(0);
    }
    kids.push_back(c);
  }
  for (int p = 0; p < 2; ++p) {
    pid_t c = ::fork();
    if (c == 0) {
      long sum = 0;
      for (long i = 0; i < kN; ++i) sum += q.get();
      sums.put(sum);
      ::_exit(0);
    }
    kids.push_back(c);
  }
  long total = sums.get() + sums.get();
  EXPECT_EQ(total, 2 * (kN * (kN + 1) / 2));
  for (pid_t c : kids) {
    int status = 0;
    ::waitpid(c, &status, 0);
    EXPECT_TRUE(exited_ok(status));
  }
}

TEST(MpQueueFork, MaxsizeBlocksAcrossProcesses) {
  mp::Queue<int> q(1);
  SharedFlags flags;
  q.put(0);
  pid_t child = ::fork();
  if (child == 0) {
    flags.f->step = 1;
    q.put(1);  // blocks until the parent gets
    flags.f->step = 2;
    ::_exit(0);
  }
  ASSERT_TRUE(pyconc_test::eventually([&] { return flags.f->step.load() == 1; }));
  EXPECT_EQ(flags.f->step.load(), 1);
  EXPECT_EQ(q.get(), 0);
  EXPECT_EQ(q.get(5s), 1);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(exited_ok(status));
  EXPECT_EQ(flags.f->step.load(), 2);
}

TEST(MpQueueFork, GetWakesWhenChildPuts) {
  mp::Queue<std::string> q;
  SharedFlags flags;
  pid_t child = ::fork();
  if (child == 0) {
    while (flags.f->step.load() == 0) std::this_thread::yield();
    q.put("late");
    ::_exit(0);
  }
  flags.f->step = 1;
  EXPECT_EQ(q.get(10s), "late");
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(exited_ok(status));
}

TEST(MpJoinableQueueFork, TaskDoneInChildJoinInParent) {
  mp::JoinableQueue<int> q;
  mp::Queue<long> result;
  pid_t child = ::fork();
  if (child == 0) {
    long sum = 0;
    for (int i = 0; i < 100; ++i) {
      sum += q.get();
      q.task_done();
    }
    result.put(sum);
    ::_exit(0);
  }
  for (int i = 0; i < 100; ++i) q.put(i);
  q.join();
  EXPECT_EQ(q.unfinished_tasks(), 0u);
  EXPECT_EQ(result.get(), 4950);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(exited_ok(status));
}

// A consumer that calls task_done() the moment get() returns must never be told it
// called it too often: the item is counted as put before it can be seen.
TEST(MpJoinableQueueFork, TaskDoneRightAfterGetIsNeverRefused) {
  constexpr int kItems = 200'000;
  mp::JoinableQueue<int> q;
  pid_t child = ::fork();
  if (child == 0) {
    try {
      for (int i = 0; i < kItems; ++i) {
        if (q.get() != i) ::_exit(2);
        q.task_done();
      }
    } catch (const ValueError&) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  bool all_put = true;
  for (int i = 0; i < kItems && all_put; ++i) {
    try {
      q.put(i, 10s);  // Full only if the child died
    } catch (const Full&) {
      all_put = false;
    }
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(all_put);
  ASSERT_TRUE(exited_ok(status)) << "the child exited with " << WEXITSTATUS(status) << " (3: task_done refused)";
  q.join();  // every task_done() counted
  EXPECT_EQ(q.unfinished_tasks(), 0u);
}

TEST(MpQueueFork, OneGiBIntact) {
  // 1 GiB in 4 MiB items through a 1 MiB ring: every item streamed. Each item is the
  // same random block with its index stamped in; the child compares it (memcmp) and
  // reports how many arrived intact.
  constexpr std::size_t kWords = (4u << 20) / 8;
  constexpr int kItems = 256;
  mp::Queue<std::vector<std::uint64_t>> q;
  mp::Queue<int> intact;
  const auto base = block_of(kWords, 42);
  auto stamped = [&base](std::vector<std::uint64_t>& v, int i) {
    v[0] = static_cast<std::uint64_t>(i);
    v[kWords / 2] = static_cast<std::uint64_t>(i) * 7;
    v[kWords - 1] = ~static_cast<std::uint64_t>(i);
    (void)base;
  };
  auto t0 = std::chrono::steady_clock::now();
  pid_t child = ::fork();
  if (child == 0) {
    int good = 0;
    std::vector<std::uint64_t> expect = base;
    for (int i = 0; i < kItems; ++i) {
      auto v = q.get();
      stamped(expect, i);
      good += v.size() == kWords && std::memcmp(v.data(), expect.data(), kWords * 8) == 0;
    }
    intact.put(good);
    ::_exit(0);
  }
  std::vector<std::uint64_t> item = base;
  for (int i = 0; i < kItems; ++i) {
    stamped(item, i);
    q.put(item);
  }
  EXPECT_EQ(intact.get(), kItems);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(exited_ok(status));
  EXPECT_LT(elapsed(t0), 60.0);
}

// ---- robustness -----------------------------------------------------------------------

TEST(MpQueueRobust, ProducerKilledMidStreamedPut) {
  mp::Queue<std::string> q(0, {.buffer_bytes = 64 * 1024});
  pid_t victim = ::fork();
  if (victim == 0) {
    q.put(std::string(10'000'000, 'v'));  // streams: blocks once the ring is full
    ::_exit(0);
  }
  // Once the stream has started (the ring holds part of it), kill the producer.
  ASSERT_TRUE(pyconc_test::eventually([&] { return q.qsize() == 1; }));
  ::kill(victim, SIGKILL);
  int status = 0;
  ::waitpid(victim, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status));
  // Another producer carries on; the consumer drops the half item and gets the rest.
  pid_t producer = ::fork();
  if (producer == 0) {
    for (int i = 0; i < 50; ++i) q.put("item " + std::to_string(i));
    ::_exit(0);
  }
  for (int i = 0; i < 50; ++i) EXPECT_EQ(q.get(10s), "item " + std::to_string(i));
  ::waitpid(producer, &status, 0);
  EXPECT_TRUE(exited_ok(status));
  EXPECT_EQ(q.qsize(), 0u);
}

TEST(MpQueueRobust, ConsumerInsideItemWhenProducerDies) {
  // The consumer is already taking the streamed item when its producer is killed: it
  // drops the item itself and then gets the next one.
  mp::Queue<std::string> q(0, {.buffer_bytes = 64 * 1024});
  pid_t victim = ::fork();
  if (victim == 0) {
    q.put(std::string(10'000'000, 'v'));
    ::_exit(0);
  }
  Reaper reap_victim{victim};
  // The stream started and the producer sleeps until room frees (the ring is full,
  // nobody reads): freeze it there. (qsize() alone counts the item a moment before its
  // first chunk is published.)
  ASSERT_TRUE(pyconc_test::eventually([&] { return q.qsize() == 1 && process_asleep_in_futex(victim); }));
  ::kill(victim, SIGSTOP);
  pid_t consumer = ::fork();
  if (consumer == 0) {
    std::string first = q.get(30s);  // the big one is lost: this is the next item
    ::_exit(first == "next" ? 0 : 1);
  }
  Reaper reap_consumer{consumer};
  // The consumer took the first chunks and waits inside the item.
  ASSERT_TRUE(pyconc_test::eventually([&] { return q.qsize() == 0; }));
  ::kill(victim, SIGKILL);
  int status = 0;
  ::waitpid(victim, &status, 0);
  q.put("next");
  ::waitpid(consumer, &status, 0);
  EXPECT_TRUE(exited_ok(status));
}

TEST(MpQueueRobust, ProcessKilledHoldingGetLock) {
  mp::Queue<int> q;
  SharedFlags flags;
  pid_t victim = ::fork();
  if (victim == 0) {
    flags.f->step = 1;
    q.get();  // holds the consumer lock while it waits
    ::_exit(0);
  }
  ASSERT_TRUE(pyconc_test::eventually([&] { return flags.f->step.load() == 1; }));
  // Wait until it is asleep inside get (holding the lock), then kill it.
  Reaper reaper{victim};
  ASSERT_TRUE(pyconc_test::eventually([&] { return process_asleep_in_futex(victim); }));
  ::kill(victim, SIGKILL);
  int status = 0;
  ::waitpid(victim, &status, 0);
  q.put(7);
  EXPECT_EQ(q.get(10s), 7);
  q.put(8);
  EXPECT_EQ(q.get_nowait(), 8);
}

TEST(MpQueueRobust, ConsumerKilledMidGetOfStreamedItem) {
  mp::JoinableQueue<std::string> q(0, {.buffer_bytes = 64 * 1024});
  pid_t producer = ::fork();
  if (producer == 0) {
    q.put(std::string(10'000'000, 'p'));
    q.put("after");
    ::_exit(0);
  }
  Reaper reap_producer{producer};
  // The producer sleeps until room frees, the ring full of the item's first chunks.
  ASSERT_TRUE(pyconc_test::eventually([&] { return q.qsize() == 1 && process_asleep_in_futex(producer); }));
  ::kill(producer, SIGSTOP);  // the consumer will wait inside the item
  pid_t victim = ::fork();
  if (victim == 0) {
    (void)q.get();
    ::_exit(0);
  }
  Reaper reap_victim{victim};
  ASSERT_TRUE(pyconc_test::eventually([&] { return q.qsize() == 0; }));
  ::kill(victim, SIGKILL);
  int status = 0;
  ::waitpid(victim, &status, 0);
  ::kill(producer, SIGCONT);
  // The rest of the big item is skipped; the next item arrives intact.
  EXPECT_EQ(q.get(20s), "after");
  q.task_done();
  q.join();  // the lost item counts as done
  ::waitpid(producer, &status, 0);
  EXPECT_TRUE(exited_ok(status));
}

TEST(MpQueueRobust, CorruptRingRaisesValueError) {
  mp::Queue<std::string> q;
  q.put("one");
  q.put("two");
  std::byte* ring = q.ring_for_testing();
  for (int i = 0; i < 16; ++i) ring[i] = std::byte{0xAB};  // the first chunk header
  EXPECT_THROW(q.get(), ValueError);
  // The queue is usable afterwards (what was in it is gone).
  EXPECT_TRUE(q.empty());
  q.put("three");
  EXPECT_EQ(q.get(), "three");
}

TEST(MpQueueRobust, ItemsDiscardedAsCorruptCountAsDoneForJoin) {
  mp::JoinableQueue<std::string> q;
  q.put("one");
  q.put("two");
  EXPECT_EQ(q.unfinished_tasks(), 2u);
  std::byte* ring = q.ring_for_testing();
  for (int i = 0; i < 16; ++i) ring[i] = std::byte{0xAB};
  EXPECT_THROW(q.get(), ValueError);
  EXPECT_EQ(q.unfinished_tasks(), 0u);
  q.join();  // nothing is left to wait for
}

TEST(MpQueueRobust, CorruptPayloadIsValueErrorNotACrash) {
  mp::Queue<std::vector<std::string>> q;
  q.put({"a", "b"});
  std::byte* ring = q.ring_for_testing();
  // Scribble over the payload (after the 16-byte header): a huge string length.
  for (int i = 16; i < 32; ++i) ring[i] = std::byte{0xFF};
  EXPECT_THROW(q.get(), ValueError);
  q.put({"c"});
  EXPECT_EQ(q.get(), std::vector<std::string>{"c"});
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
