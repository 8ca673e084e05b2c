// multiprocessing.Queue / JoinableQueue across fork() children: ordering, several
// producers and consumers, blocking on maxsize, task_done and join, a 1 GiB stream.
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
using pyconc::queue::Full;
using pyconc_test::exited_ok;
using pyconc_test::SharedFlags;
using pyconc_test::block_of;
using pyconc_test::elapsed;

namespace {

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

}  // namespace
