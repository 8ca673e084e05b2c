// The mutex inside every process-shared object: exclusion across processes, and
// recovery when the holder dies.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <new>
#include <sys/stat.h>
#include <thread>

#include "pyconc/detail/futex.hpp"
#include "pyconc/errors.hpp"

#include <gtest/gtest.h>

#include "mp_support.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "pyconc/multiprocessing/detail/process_mutex.hpp"
#include "pyconc/multiprocessing/detail/shared_segment.hpp"

using namespace std::chrono_literals;
using pyconc::detail::Deadline;
using pyconc::multiprocessing::detail::ProcessMutex;
using pyconc::multiprocessing::detail::SharedSegment;

namespace {

struct Shared {
  ProcessMutex mutex;
  std::atomic<std::uint32_t> step{0};
  long counter = 0;

  /// Sets `step` to `n` and wakes whoever waits for it, in any process.
  void reach(std::uint32_t n) {
    step.store(n);
    pyconc::detail::futex_wake_all(step, true);
  }
  /// Waits until `step` is `n`.
  void wait_for(std::uint32_t n) {
    for (std::uint32_t v; (v = step.load()) != n;) pyconc::detail::futex_wait(step, v, Deadline::after(1s), true);
  }
};

Shared* make_shared_state(std::shared_ptr<SharedSegment>& segment) {
  segment = SharedSegment::create(sizeof(Shared));
  return new (segment->data()) Shared;
}

/// Forks a child that takes the mutex and holds it until it is killed; returns once it
/// holds it.
pid_t fork_holder(Shared* s) {
  pid_t pid = ::fork();
  if (pid == 0) {
    s->mutex.lock();
    s->reach(1);
    for (;;) ::pause();
  }
  s->wait_for(1);
  return pid;
}

TEST(ProcessMutex, ExcludesAcrossProcesses) {
  std::shared_ptr<SharedSegment> segment;
  Shared* s = make_shared_state(segment);
  constexpr int kRounds = 20000;
  auto work = [s] {
    for (int i = 0; i < kRounds; ++i) {
      if (s->mutex.lock() != ProcessMutex::Acquire::ok) return 1;
      long v = s->counter;
      s->counter = v + 1;
      s->mutex.unlock();
    }
    return 0;
  };
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(work());
  EXPECT_EQ(work(), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(s->counter, 2L * kRounds);
  EXPECT_EQ(s->mutex.holder(), 0);
}

TEST(ProcessMutex, HolderIsRecorded) {
  std::shared_ptr<SharedSegment> segment;
  Shared* s = make_shared_state(segment);
  ASSERT_TRUE(s->mutex.try_lock());
  EXPECT_EQ(s->mutex.holder(), pyconc::multiprocessing::detail::self_pid());
  EXPECT_FALSE(s->mutex.try_lock());
  s->mutex.unlock();
  EXPECT_EQ(s->mutex.holder(), 0);
}

TEST(ProcessMutex, TimesOutWhileALiveProcessHoldsIt) {
  std::shared_ptr<SharedSegment> segment;
  Shared* s = make_shared_state(segment);
  pid_t pid = ::fork();
  if (pid == 0) {
    s->mutex.lock();
    s->reach(1);
    s->wait_for(2);
    s->mutex.unlock();
    ::_exit(0);
  }
  s->wait_for(1);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(s->mutex.lock(Deadline::after(0.2s)), ProcessMutex::Acquire::timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 0.19s);
  s->reach(2);
  EXPECT_EQ(s->mutex.lock(Deadline::after(10s)), ProcessMutex::Acquire::ok);
  s->mutex.unlock();
  int status = 0;
  ::waitpid(pid, &status, 0);
}

TEST(ProcessMutex, AWaiterTakesOverFromAHolderKilledWithTheLock) {
  std::shared_ptr<SharedSegment> segment;
  Shared* s = make_shared_state(segment);
  pid_t pid = fork_holder(s);
  EXPECT_EQ(s->mutex.holder(), pid);
  ::kill(pid, SIGKILL);
  // Not reaped yet: the holder is a zombie, which must already count as dead.
  EXPECT_EQ(s->mutex.lock(Deadline::after(10s)), ProcessMutex::Acquire::owner_died);
  EXPECT_EQ(s->mutex.holder(), pyconc::multiprocessing::detail::self_pid());
  s->mutex.unlock();
  EXPECT_EQ(s->mutex.lock(Deadline::after(1s)), ProcessMutex::Acquire::ok);
  s->mutex.unlock();
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status));
}

TEST(ProcessMutex, ASleepingWaiterNoticesTheDeathOfTheHolder) {
  // The waiter is already asleep on the word when the holder dies: no wake-up ever
  // comes, the liveness check must find it.
  std::shared_ptr<SharedSegment> segment;
  Shared* s = make_shared_state(segment);
  pid_t holder = fork_holder(s);
  std::atomic<int> result{-1};
  std::thread waiter([&] { result = static_cast<int>(s->mutex.lock(Deadline::after(20s))); });
  ASSERT_TRUE(pyconc_test::eventually([&] { return (s->mutex.word.load() & ProcessMutex::kSleepers) != 0; }));
  ::kill(holder, SIGKILL);
  waiter.join();
  EXPECT_EQ(result.load(), static_cast<int>(ProcessMutex::Acquire::owner_died));
  s->mutex.unlock();
  int status = 0;
  ::waitpid(holder, &status, 0);
}

TEST(SharedSegment, CreatedNamesAreUnguessableAndPrivate) {
  auto a = SharedSegment::create(100);
  auto b = SharedSegment::create(100);
  EXPECT_NE(a->name(), b->name());
  std::string prefix = "pyconc-" + std::to_string(pyconc::multiprocessing::detail::family_pid()) + "-";
  EXPECT_EQ(a->name().rfind(prefix, 0), 0u);
  EXPECT_EQ(a->name().size(), prefix.size() + 16);
  struct stat st {};
  ASSERT_EQ(::stat(("/dev/shm/" + a->name()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(a->created_here());
}

TEST(SharedSegment, OpenSeesTheSameBytesAndTheNameGoesWithTheCreator) {
  std::string name;
  {
    auto a = SharedSegment::create(4096);
    name = a->name();
    static_cast<char*>(a->data())[10] = 'x';
    auto b = SharedSegment::open(name);
    EXPECT_EQ(b->size(), 4096u);
    EXPECT_EQ(static_cast<char*>(b->data())[10], 'x');
    EXPECT_FALSE(b->created_here());
  }
  EXPECT_THROW(SharedSegment::open(name), pyconc::FileNotFoundError);
}

TEST(SharedSegment, BadInputIsAClearError) {
  EXPECT_THROW(SharedSegment::create(0), pyconc::ValueError);
  EXPECT_THROW(SharedSegment::create(10, {.name = "a/b"}), pyconc::ValueError);
  EXPECT_THROW(SharedSegment::open("pyconc-no-such-segment"), pyconc::FileNotFoundError);
  auto a = SharedSegment::create(10);
  EXPECT_THROW(SharedSegment::create(10, {.name = a->name()}), pyconc::FileExistsError);
  a->unlink();
  EXPECT_THROW(a->unlink(), pyconc::FileNotFoundError);
}

}  // namespace
