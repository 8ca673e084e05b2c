// threading::Thread's lifecycle: start, join (with and without a timeout), is_alive,
// ident and native_id, the daemon flag, and run() called directly.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <optional>
#include <vector>

#include <pyconc/threading.hpp>

#include "support.hpp"

namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::Clock;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;

namespace {

// ---- start / join / is_alive ------------------------------------------------------------

TEST(ThreadLifecycle, StartTwiceRaises) {
  threading::Event go;
  threading::Thread t([&] { go.wait(); });
  t.start();
  EXPECT_THROW(t.start(), pyconc::RuntimeError);  // while running
  go.set();
  t.join();
  EXPECT_THROW(t.start(), pyconc::RuntimeError);  // after it finished
}

TEST(ThreadLifecycle, JoinBeforeStartRaises) {
  threading::Thread t([] {});
  EXPECT_THROW(t.join(), pyconc::RuntimeError);
  EXPECT_THROW(t.join(1s), pyconc::RuntimeError);
  EXPECT_THROW(t.join(-1s), pyconc::RuntimeError);
  t.start();
  t.join();
}

TEST(ThreadLifecycle, JoinOfTheCurrentThreadRaises) {
  std::atomic<int> raised{0};
  threading::Thread* self = nullptr;
  threading::Thread t([&] {
    try {
      threading::current_thread().join();
    } catch (const pyconc::RuntimeError&) {
      ++raised;
    }
    try {
      threading::current_thread().join(1s);
    } catch (const pyconc::RuntimeError&) {
      ++raised;
    }
    try {
      self->join();  // the handle itself, from inside
    } catch (const pyconc::RuntimeError&) {
      ++raised;
    }
  });
  self = &t;
  t.start();
  t.join();
  EXPECT_EQ(raised.load(), 3);
  EXPECT_THROW(threading::current_thread().join(), pyconc::RuntimeError);  // main, too
}

class SelfJoiner : public threading::Thread {
 public:
  void run() override {
    try {
      join();
    } catch (const pyconc::RuntimeError&) {
      raised_ = true;
    }
  }
  bool raised() const { return raised_; }

 private:
  bool raised_ = false;
};

TEST(ThreadLifecycle, SubclassJoiningItselfRaises) {
  SelfJoiner s;
  s.start();
  s.join();
  EXPECT_TRUE(s.raised());
}

TEST(ThreadLifecycle, JoinWithTimeout) {
  threading::Event go;
  threading::Thread t([&] { go.wait(); });
  t.start();
  auto start = Clock::now();
  EXPECT_FALSE(t.join(50ms));
  double waited = seconds_since(start);
  EXPECT_GE(waited, 0.045);
  EXPECT_LT(waited, kPrompt);
  EXPECT_TRUE(t.is_alive());
  go.set();
  start = Clock::now();
  EXPECT_TRUE(t.join(kPrompt * 1s));
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_FALSE(t.is_alive());
  EXPECT_TRUE(t.join(0s));  // finished: true at once
  EXPECT_TRUE(t.join(-1s));
  t.join();  // joining again is fine
}

TEST(ThreadLifecycle, JoinWithNegativeOrZeroTimeoutDoesNotWait) {
  threading::Event go;
  threading::Thread t([&] { go.wait(); });
  t.start();
  auto start = Clock::now();
  EXPECT_FALSE(t.join(-1s));
  EXPECT_FALSE(t.join(-0.001s));
  EXPECT_FALSE(t.join(0s));
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_TRUE(t.is_alive());
  go.set();
  t.join();
}

TEST(ThreadLifecycle, JoinAboveTimeoutMaxRaisesOverflowError) {
  threading::Thread t([] {});
  t.start();
  EXPECT_THROW(t.join(threading::TIMEOUT_MAX * 2), pyconc::OverflowError);
  EXPECT_TRUE(t.join(threading::TIMEOUT_MAX));
}

TEST(ThreadLifecycle, IsAliveBeforeWhileAfter) {
  threading::Event running, go;
  bool alive_inside = false;
  threading::Thread* self = nullptr;
  threading::Thread t([&] {
    alive_inside = self->is_alive();
    running.set();
    go.wait();
  });
  self = &t;
  EXPECT_FALSE(t.is_alive());
  t.start();
  EXPECT_TRUE(t.is_alive());  // start() returns once the thread runs
  ASSERT_TRUE(running.wait(kPrompt * 1s));
  EXPECT_TRUE(t.is_alive());
  go.set();
  t.join();
  EXPECT_FALSE(t.is_alive());
  EXPECT_TRUE(alive_inside);
}

TEST(ThreadLifecycle, ManyThreadsAllRunAndJoin) {
  constexpr int kThreads = 16;
  std::atomic<int> sum{0};
  std::vector<threading::Thread> threads;
  threads.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) threads.emplace_back([&sum](int k) { sum += k; }, i);
  for (auto& t : threads) t.start();
  for (auto& t : threads) t.join();
  EXPECT_EQ(sum.load(), kThreads * (kThreads - 1) / 2);
  for (auto& t : threads) EXPECT_FALSE(t.is_alive());
}

// ---- ident / native_id ------------------------------------------------------------------

TEST(ThreadIds, NulloptBeforeStartThenThoseSeenInside) {
  unsigned long ident_inside = 0;
  long native_inside = 0;
  threading::Thread t([&] {
    ident_inside = threading::get_ident();
    native_inside = threading::get_native_id();
  });
  EXPECT_FALSE(t.ident().has_value());
  EXPECT_FALSE(t.native_id().has_value());
  t.start();
  // Known as soon as start() returns.
  ASSERT_TRUE(t.ident().has_value());
  ASSERT_TRUE(t.native_id().has_value());
  std::optional<unsigned long> ident = t.ident();
  std::optional<long> native = t.native_id();
  t.join();
  EXPECT_EQ(*ident, ident_inside);
  EXPECT_EQ(*native, native_inside);
  EXPECT_NE(*ident, threading::get_ident());
  EXPECT_NE(*native, threading::get_native_id());
  EXPECT_NE(*native, static_cast<long>(getpid()));
  // Still reported after the thread finished.
  EXPECT_EQ(t.ident(), ident);
  EXPECT_EQ(t.native_id(), native);
}

// ---- daemon -----------------------------------------------------------------------------

TEST(ThreadDaemon, InheritedFromTheCreatingThread) {
  EXPECT_FALSE(threading::main_thread().daemon());
  threading::Thread from_main([] {});
  EXPECT_FALSE(from_main.daemon());

  std::optional<bool> child_default, child_explicit, grandchild_default;
  threading::Thread d({.daemon = true}, [&] {
    threading::Thread child([&] {
      threading::Thread grandchild([] {});
      grandchild_default = grandchild.daemon();
    });
    child_default = child.daemon();
    threading::Thread not_daemon({.daemon = false}, [] {});
    child_explicit = not_daemon.daemon();
    child.start();
    child.join();
  });
  d.start();
  d.join();
  ASSERT_TRUE(child_default && child_explicit && grandchild_default);
  EXPECT_TRUE(*child_default);
  EXPECT_FALSE(*child_explicit);
  EXPECT_TRUE(*grandchild_default);

  std::optional<bool> from_non_daemon;
  threading::Thread n([&] {
    threading::Thread child([] {});
    from_non_daemon = child.daemon();
  });
  n.start();
  n.join();
  ASSERT_TRUE(from_non_daemon.has_value());
  EXPECT_FALSE(*from_non_daemon);
}

TEST(ThreadDaemon, SetDaemonBeforeStartOnlyOnce) {
  threading::Event go;
  std::optional<bool> daemon_inside;
  threading::Thread t([&] {
    daemon_inside = threading::current_thread().daemon();
    go.wait();
  });
  t.set_daemon(true);
  EXPECT_TRUE(t.daemon());
  t.set_daemon(false);
  EXPECT_FALSE(t.daemon());
  t.set_daemon(true);
  t.start();
  EXPECT_THROW(t.set_daemon(false), pyconc::RuntimeError);
  EXPECT_TRUE(t.daemon());
  go.set();
  t.join();
  EXPECT_THROW(t.set_daemon(false), pyconc::RuntimeError);
  ASSERT_TRUE(daemon_inside.has_value());
  EXPECT_TRUE(*daemon_inside);
}

// ---- run() called directly ----------------------------------------------------------------

TEST(ThreadRun, CallingRunDirectlyRunsTheTargetInTheCaller) {
  std::optional<unsigned long> ident_inside;
  int calls = 0;
  threading::Thread t([&] {
    ++calls;
    ident_inside = threading::get_ident();
  });
  t.run();
  EXPECT_EQ(calls, 1);
  ASSERT_TRUE(ident_inside.has_value());
  EXPECT_EQ(*ident_inside, threading::get_ident());
  EXPECT_FALSE(t.is_alive());
  EXPECT_FALSE(t.ident().has_value());  // never started
}

}  // namespace
