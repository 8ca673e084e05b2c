// Handles that cross into a child attach to the parent's segments and create none: a
// locked Value<int>, an RLock and a Condition passed as Process arguments under every
// start method make exactly the /dev/shm segments the user asked for.
//
// How the segments are counted: an inotify watch on /dev/shm, set up before the objects
// are made, reports every file created there by any process (IN_CREATE is queued by the
// kernel in the creating process's shm_open, so a child's creations are in the queue
// once it has been joined). Only names of this process family count
// ("pyconc-<family pid>-...", which spawn and forkserver children share), so segments
// of other programs running at the same time do not disturb the count.
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "mp_support.hpp"
#include "pyconc/multiprocessing/condition.hpp"
#include "pyconc/multiprocessing/context.hpp"
#include "pyconc/multiprocessing/process.hpp"
#include "pyconc/multiprocessing/queues.hpp"
#include "pyconc/multiprocessing/rlock.hpp"
#include "pyconc/multiprocessing/sharedctypes.hpp"

#if defined(__clang__)
#pragma clang diagnostic ignored "-Wthread-safety-analysis"
#endif

namespace mp = pyconc::multiprocessing;

namespace {

/// The names of this family's segments created in /dev/shm since construction.
class ShmCreations {
 public:
  ShmCreations() : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    if (fd_ < 0 || ::inotify_add_watch(fd_, "/dev/shm", IN_CREATE) < 0)
      ADD_FAILURE() << "inotify on /dev/shm: " << std::strerror(errno);
  }
  ~ShmCreations() {
    if (fd_ >= 0) ::close(fd_);
  }
  ShmCreations(const ShmCreations&) = delete;
  ShmCreations& operator=(const ShmCreations&) = delete;

  /// The creations queued so far (each reported once).
  std::vector<std::string> take() {
    const std::string prefix = "pyconc-" + std::to_string(mp::detail::family_pid()) + "-";
    std::vector<std::string> names;
    alignas(inotify_event) char buf[16384];
    for (;;) {
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) break;
      for (char* p = buf; p < buf + n;) {
        auto* event = reinterpret_cast<inotify_event*>(p);
        if (event->mask & IN_Q_OVERFLOW) ADD_FAILURE() << "the inotify queue overflowed: the count is unknown";
        if (event->len > 0 && std::string(event->name).rfind(prefix, 0) == 0) names.emplace_back(event->name);
        p += sizeof(inotify_event) + event->len;
      }
    }
    return names;
  }

 private:
  int fd_;
};

void use_them(mp::Value<int> value, mp::RLock rlock, mp::Condition cond) {
  {
    std::scoped_lock with(value.get_lock());
    value.set_value(value.value() + 1);
  }
  {
    std::scoped_lock outer(rlock);
    std::scoped_lock inner(rlock);
  }
  {
    std::scoped_lock with(cond);
    cond.notify_all();
  }
}

void nothing() {}

class HandleSegments : public ::testing::TestWithParam<std::string> {};

TEST_P(HandleSegments, ChildrenAttachAndCreateNothing) {
  mp::Context ctx = mp::get_context(GetParam());
  {
    // The machinery a first start brings up (the resource tracker, a forkserver) is not
    // what this test counts.
    auto warm = ctx.Process(nothing);
    warm.start();
    warm.join();
  }
  ShmCreations created;

  mp::Value<int> value(0);  // its int, and the RLock that guards it
  mp::RLock rlock;          // one
  mp::Condition cond;       // its waiter slots, and its RLock
  const std::vector<std::string> made = created.take();
  EXPECT_EQ(made.size(), 5u) << "the objects themselves";

  auto p = ctx.Process(use_them, value, rlock, cond);
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(value.value(), 1);

  const std::vector<std::string> more = created.take();
  EXPECT_TRUE(more.empty()) << "passing them to a " << GetParam() << " child created " << more.size()
                            << " segments, the first " << (more.empty() ? "" : more.front());
}

// What a queue or a connection carries is loaded the same way: a handle taken out of a
// queue attaches to the segment that was put in.
TEST(HandleSegmentsQueue, AHandleTakenOutOfAQueueAttaches) {
  mp::Queue<std::tuple<mp::Lock, mp::Value<int>>> q;
  ShmCreations created;
  mp::Lock lock;
  mp::Value<int> value(7, lock);
  EXPECT_EQ(created.take().size(), 2u) << "the lock and the int";
  q.put({lock, value});
  auto [lock2, value2] = q.get();
  EXPECT_TRUE(lock2 == lock);
  EXPECT_EQ(value2.value(), 7);
  EXPECT_TRUE(created.take().empty());
}

// A Process subclass whose members are handles: the child loads them into a blank built
// from pickle::for_loading, so it attaches to the parent's lock and value.
class Counter : public mp::Process {
 public:
  Counter() = default;
  explicit Counter(pyconc::pickle::for_loading_t tag) : lock_(tag), total_(tag) {}
  Counter(mp::Lock lock, mp::Value<int> total) : lock_(std::move(lock)), total_(std::move(total)) {}
  void run() override {
    std::scoped_lock with(lock_);
    total_.set_value(total_.value() + 1);
  }
  template <class Archive>
  void serialize(Archive& archive) {
    archive(lock_, total_);
  }

 private:
  mp::Lock lock_;
  mp::Value<int> total_;
};

}  // namespace
PYCONC_REGISTER_PROCESS(Counter);
namespace {

TEST_P(HandleSegments, ASubclassWithHandleMembersAttaches) {
  mp::Context ctx = mp::get_context(GetParam());
  {
    Counter warm(mp::Lock(), mp::Value<int>(0));
    ctx.bind(warm);
    warm.start();
    warm.join();
  }
  ShmCreations created;
  mp::Lock lock;
  mp::Value<int> total(0, false);
  EXPECT_EQ(created.take().size(), 2u) << "the lock and the int";
  Counter p(lock, total);
  ctx.bind(p);
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(total.value(), 1);
  const std::vector<std::string> more = created.take();
  EXPECT_TRUE(more.empty()) << "a " << GetParam() << " child of a Process subclass created " << more.size()
                            << " segments";
}

INSTANTIATE_TEST_SUITE_P(Methods, HandleSegments, ::testing::ValuesIn(pyconc_test::start_methods()),
                         pyconc_test::method_name);

}  // namespace
