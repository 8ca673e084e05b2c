// multiprocessing.Queue / JoinableQueue robustness: a producer or consumer killed
// mid-item or holding a lock, and corrupt bytes in the ring.
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
#include "pyconc/multiprocessing/detail/queue_access.hpp"
#include "pyconc/multiprocessing/context.hpp"
#include "pyconc/multiprocessing/detail/shared_segment.hpp"
#include "pyconc/multiprocessing/process.hpp"
#include "pyconc/multiprocessing/queues.hpp"

using namespace std::chrono_literals;
namespace mp = pyconc::multiprocessing;
using pyconc::ValueError;
using pyconc_test::exited_ok;
using pyconc_test::Reaper;
using pyconc_test::SharedFlags;
using pyconc_test::process_asleep_in_futex;

namespace {

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
  std::byte* ring = mp::detail::QueueAccess::ring(q);
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
  std::byte* ring = mp::detail::QueueAccess::ring(q);
  for (int i = 0; i < 16; ++i) ring[i] = std::byte{0xAB};
  EXPECT_THROW(q.get(), ValueError);
  EXPECT_EQ(q.unfinished_tasks(), 0u);
  q.join();  // nothing is left to wait for
}

TEST(MpQueueRobust, CorruptPayloadIsValueErrorNotACrash) {
  mp::Queue<std::vector<std::string>> q;
  q.put({"a", "b"});
  std::byte* ring = mp::detail::QueueAccess::ring(q);
  // Scribble over the payload (after the 16-byte header): a huge string length.
  for (int i = 16; i < 32; ++i) ring[i] = std::byte{0xFF};
  EXPECT_THROW(q.get(), ValueError);
  q.put({"c"});
  EXPECT_EQ(q.get(), std::vector<std::string>{"c"});
}

}  // namespace
