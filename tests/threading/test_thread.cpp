// threading::Thread: targets and arguments, subclasses, start/join/is_alive, names,
// ids, daemon flags, handle moves and drops, and exceptions escaping a thread.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <pyconc/threading.hpp>

#include "support.hpp"

namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::Clock;
using pyconc_test::eventually;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;

namespace {

// True when a thread with this name is in threading::enumerate().
bool listed(const std::string& name) {
  for (const auto& t : threading::enumerate())
    if (t->name() == name) return true;
  return false;
}

// The N of a "Thread-N" name, or -1.
long thread_number(const std::string& name) {
  const std::string prefix = "Thread-";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return -1;
  long n = 0;
  for (std::size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    n = n * 10 + (name[i] - '0');
  }
  return n;
}

// ---- target + arguments -----------------------------------------------------------------

void add_into(int a, int b, std::atomic<int>* out) { out->store(a + b); }

TEST(ThreadTarget, RunsFunctionPointerWithArguments) {
  std::atomic<int> out{0};
  threading::Thread t(add_into, 2, 40, &out);
  t.start();
  t.join();
  EXPECT_EQ(out.load(), 42);
}

TEST(ThreadTarget, ArgumentsAreDecayCopied) {
  std::string text = "original";
  std::string seen;
  threading::Event go;
  threading::Thread t([&seen, &go](std::string s) {
    go.wait();
    seen = s;
  }, text);
  t.start();
  text = "changed after construction";  // the thread holds its own copy
  go.set();
  t.join();
  EXPECT_EQ(seen, "original");
  EXPECT_EQ(text, "changed after construction");
}

TEST(ThreadTarget, StdRefSharesTheArgument) {
  int counter = 0;
  threading::Thread t([](int& c) { c += 5; }, std::ref(counter));
  t.start();
  t.join();
  EXPECT_EQ(counter, 5);  // join() makes the write visible
}

TEST(ThreadTarget, MoveOnlyArgumentsAndTargets) {
  auto box = std::make_unique<int>(7);
  int seen = 0;
  threading::Thread t([&seen](std::unique_ptr<int> p) { seen = *p; }, std::move(box));
  t.start();
  t.join();
  EXPECT_EQ(seen, 7);

  auto owned = std::make_unique<int>(9);
  threading::Thread u([p = std::move(owned), &seen] { seen = *p; });
  u.start();
  u.join();
  EXPECT_EQ(seen, 9);
}

TEST(ThreadTarget, OptionsSetNameAndDaemon) {
  std::string name_inside;
  bool daemon_inside = false;
  threading::Thread t({.name = "x", .daemon = true}, [&] {
    name_inside = threading::current_thread().name();
    daemon_inside = threading::current_thread().daemon();
  });
  EXPECT_EQ(t.name(), "x");
  EXPECT_TRUE(t.daemon());
  t.start();
  t.join();
  EXPECT_EQ(name_inside, "x");
  EXPECT_TRUE(daemon_inside);

  threading::Thread only_name({.name = "just-a-name"}, [] {});
  EXPECT_EQ(only_name.name(), "just-a-name");
  EXPECT_FALSE(only_name.daemon());  // inherited from the main thread
}

TEST(ThreadTarget, TargetRunsExactlyOnceAndOnItsOwnThread) {
  std::atomic<int> calls{0};
  std::optional<unsigned long> ident_inside;
  threading::Thread t([&] {
    ++calls;
    ident_inside = threading::get_ident();
  });
  t.start();
  t.join();
  EXPECT_EQ(calls.load(), 1);
  ASSERT_TRUE(ident_inside.has_value());
  EXPECT_NE(*ident_inside, threading::get_ident());
}

// ---- subclasses -------------------------------------------------------------------------

class Summer : public threading::Thread {
 public:
  explicit Summer(int n) : n_(n) {}
  Summer(int n, std::string name) : Thread(threading::ThreadOptions{.name = std::move(name)}), n_(n) {}
  void run() override {
    for (int i = 1; i <= n_; ++i) total_ += i;
    me_ = &threading::current_thread();
  }
  long total() const { return total_; }
  const threading::Thread* me() const { return me_; }

 private:
  int n_;
  long total_ = 0;
  const threading::Thread* me_ = nullptr;
};

TEST(ThreadSubclass, RunUsesItsMembers) {
  Summer s(100);
  EXPECT_FALSE(s.is_alive());
  s.start();
  s.join();
  EXPECT_EQ(s.total(), 5050);
  EXPECT_EQ(s.me(), &s);  // current_thread() is the subclass object itself
  EXPECT_FALSE(s.is_alive());
}

TEST(ThreadSubclass, TakesOptions) {
  Summer s(3, "summer");
  EXPECT_EQ(s.name(), "summer");
  s.start();
  s.join();
  EXPECT_EQ(s.total(), 6);
}

TEST(ThreadSubclass, RunCalledDirectlyRunsInTheCaller) {
  Summer s(4);
  s.run();
  EXPECT_EQ(s.total(), 10);
  EXPECT_EQ(s.me(), &threading::main_thread());
  EXPECT_FALSE(s.is_alive());
}

// run() copies what it needs to locals first, then touches only those: so it stays valid
// while the object is being destroyed. The derived destructor signals that destruction
// began; the base destructor must then wait for run() to end.
class Waiter : public threading::Thread {
 public:
  Waiter(threading::Event* started, threading::Event* go, threading::Event* finished,
         threading::Event* in_destructor)
      : started_(started), go_(go), finished_(finished), in_destructor_(in_destructor) {}
  ~Waiter() override { in_destructor_->set(); }
  void run() override {
    threading::Event* go = go_;
    threading::Event* finished = finished_;
    started_->set();
    go->wait();
    finished->set();
  }

 private:
  threading::Event* started_;
  threading::Event* go_;
  threading::Event* finished_;
  threading::Event* in_destructor_;
};

TEST(ThreadSubclass, DestructorWaitsForRunningRun) {
  threading::Event started, go, finished, in_destructor;
  bool finished_when_released = true;
  threading::Thread releaser([&] {
    in_destructor.wait();
    finished_when_released = finished.is_set();  // run() is still blocked
    go.set();
  });
  releaser.start();
  {
    Waiter w(&started, &go, &finished, &in_destructor);
    w.start();
    ASSERT_TRUE(started.wait(kPrompt * 1s));
  }  // ~Waiter -> releaser sets go -> ~Thread returns once run() has ended
  EXPECT_TRUE(finished.is_set());
  releaser.join();
  EXPECT_FALSE(finished_when_released);
}

TEST(ThreadSubclass, DestructorOfFinishedOrUnstartedSubclassDoesNotBlock) {
  auto start = Clock::now();
  {
    Summer never_started(1);
  }
  {
    Summer finished(2);
    finished.start();
    finished.join();
  }
  EXPECT_LT(seconds_since(start), kPrompt);
}

class Blocker : public threading::Thread {
 public:
  explicit Blocker(threading::Event* go) : go_(go) {}
  void run() override { go_->wait(); }

 private:
  threading::Event* go_;
};

TEST(ThreadSubclass, MovingWhileRunningRaises) {
  threading::Event go;
  Blocker b(&go);
  b.start();
  EXPECT_THROW({ Blocker moved(std::move(b)); }, pyconc::RuntimeError);
  EXPECT_TRUE(b.is_alive());  // the failed move left it alone
  Blocker other(&go);
  EXPECT_THROW(other = std::move(b), pyconc::RuntimeError);
  EXPECT_THROW(b = std::move(other), pyconc::RuntimeError);
  EXPECT_TRUE(b.is_alive());
  go.set();
  b.join();
  Blocker after(std::move(b));  // finished: moving is fine now
  EXPECT_FALSE(after.is_alive());
  EXPECT_THROW(b.is_alive(), pyconc::RuntimeError);
}

TEST(ThreadSubclass, UnstartedSubclassCanBeMovedAndStarted) {
  Summer s(10, "movable");
  Summer t(std::move(s));
  t.start();
  t.join();
  EXPECT_EQ(t.total(), 55);
  EXPECT_EQ(t.name(), "movable");
}

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

// ---- names ------------------------------------------------------------------------------

TEST(ThreadName, DefaultNamesCountUp) {
  threading::Thread a([] {});
  threading::Thread b([] {});
  Summer c(1);
  long na = thread_number(a.name());
  long nb = thread_number(b.name());
  long nc = thread_number(c.name());
  ASSERT_GT(na, 0) << a.name();
  ASSERT_GT(nb, 0) << b.name();
  ASSERT_GT(nc, 0) << c.name();
  EXPECT_LT(na, nb);
  EXPECT_LT(nb, nc);
}

TEST(ThreadName, SetNameBeforeAndWhileRunning) {
  threading::Event running, go;
  std::string seen;
  threading::Thread t([&] {
    running.set();
    go.wait();
    seen = threading::current_thread().name();
  });
  t.set_name("first");
  EXPECT_EQ(t.name(), "first");
  t.start();
  ASSERT_TRUE(running.wait(kPrompt * 1s));
  t.set_name("second");
  go.set();
  t.join();
  EXPECT_EQ(seen, "second");
  EXPECT_EQ(t.name(), "second");
  t.set_name("after");  // still allowed after it finished, as in Python
  EXPECT_EQ(t.name(), "after");
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

// ---- handles: move, drop ----------------------------------------------------------------

TEST(ThreadHandle, MovedFromHandleRaisesOnUse) {
  threading::Thread t([] {});
  threading::Thread u(std::move(t));
  EXPECT_THROW(t.start(), pyconc::RuntimeError);
  EXPECT_THROW(t.join(), pyconc::RuntimeError);
  EXPECT_THROW(t.join(1s), pyconc::RuntimeError);
  EXPECT_THROW(t.is_alive(), pyconc::RuntimeError);
  EXPECT_THROW(t.name(), pyconc::RuntimeError);
  EXPECT_THROW(t.set_name("x"), pyconc::RuntimeError);
  EXPECT_THROW(t.ident(), pyconc::RuntimeError);
  EXPECT_THROW(t.native_id(), pyconc::RuntimeError);
  EXPECT_THROW(t.daemon(), pyconc::RuntimeError);
  EXPECT_THROW(t.set_daemon(true), pyconc::RuntimeError);
  EXPECT_THROW(t.run(), pyconc::RuntimeError);

  threading::Thread w([] {});
  w = std::move(u);  // move assignment: u is moved-from now, w owns u's thread
  EXPECT_THROW(u.start(), pyconc::RuntimeError);
  w.start();
  w.join();
}

TEST(ThreadHandle, MovingAStartedTargetThreadIsFine) {
  threading::Event go;
  std::atomic<bool> done{false};
  threading::Thread t([&] {
    go.wait();
    done = true;
  });
  t.start();
  threading::Thread u(std::move(t));
  EXPECT_TRUE(u.is_alive());
  threading::Thread v([] {});
  v = std::move(u);
  EXPECT_TRUE(v.is_alive());
  go.set();
  v.join();
  EXPECT_TRUE(done.load());
  EXPECT_THROW(t.is_alive(), pyconc::RuntimeError);
  EXPECT_THROW(u.join(), pyconc::RuntimeError);
}

TEST(ThreadHandle, HandlesInAVectorSurviveReallocation) {
  threading::Event go;
  std::atomic<int> finished{0};
  std::vector<threading::Thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      go.wait();
      ++finished;
    });
    threads.back().start();  // later emplace_back moves the started handles
  }
  go.set();
  for (auto& t : threads) t.join();
  EXPECT_EQ(finished.load(), 4);
}

TEST(ThreadHandle, DroppingAStartedHandleDoesNotStopTheThread) {
  auto go = std::make_shared<threading::Event>();
  auto done = std::make_shared<threading::Event>();
  std::string name;
  {
    threading::Thread t({.name = "dropped-worker"}, [go, done] {
      go->wait();
      done->set();
    });
    t.start();
    name = t.name();
  }  // handle gone; the thread is still there
  EXPECT_TRUE(listed(name));
  EXPECT_FALSE(done->is_set());
  go->set();
  EXPECT_TRUE(done->wait(kPrompt * 1s));
  EXPECT_TRUE(eventually([&] { return !listed(name); }));
}

TEST(ThreadHandle, DroppedThreadCanBeJoinedThroughEnumerate) {
  auto go = std::make_shared<threading::Event>();
  std::atomic<bool> done{false};
  {
    threading::Thread t({.name = "rejoined"}, [go, &done] {
      go->wait();
      done = true;
    });
    t.start();
  }
  std::shared_ptr<threading::Thread> again;
  for (auto& t : threading::enumerate())
    if (t->name() == "rejoined") again = t;
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->is_alive());
  go->set();
  again->join();
  EXPECT_FALSE(again->is_alive());
  EXPECT_TRUE(done.load());
}

TEST(ThreadHandle, EqualityIsIdentity) {
  threading::Thread a([] {});
  threading::Thread b([] {});
  EXPECT_TRUE(a == a);
  EXPECT_FALSE(a == b);
  EXPECT_TRUE(a != b);
  std::optional<bool> current_is_a;
  threading::Thread* pa = &a;
  a = threading::Thread([&] { current_is_a = threading::current_thread() == *pa; });
  a.start();
  a.join();
  ASSERT_TRUE(current_is_a.has_value());
  EXPECT_TRUE(*current_is_a);
}

// ---- exceptions escaping a thread -------------------------------------------------------

struct HookRecord {
  std::string exc_type;
  std::string message;
  std::string thread_name;
  std::optional<unsigned long> thread_ident;
  const threading::Thread* thread = nullptr;
  unsigned long reporting_ident = 0;
};

class ThreadExceptions : public ::testing::Test {
 protected:
  void SetUp() override {
    threading::excepthook = [this](const threading::ExceptHookArgs& args) {
      HookRecord r;
      r.exc_type = args.exc_type;
      try {
        std::rethrow_exception(args.exc_value);
      } catch (const std::exception& e) {
        r.message = e.what();
      } catch (...) {
        r.message = "<not a std::exception>";
      }
      if (args.thread) {
        r.thread_name = args.thread->name();
        r.thread_ident = args.thread->ident();
      }
      r.thread = args.thread;
      r.reporting_ident = threading::get_ident();
      std::lock_guard<std::mutex> guard(mutex_);
      records_.push_back(std::move(r));
    };
  }
  void TearDown() override { threading::excepthook = threading::default_excepthook; }

  std::vector<HookRecord> records() {
    std::lock_guard<std::mutex> guard(mutex_);
    return records_;
  }

 private:
  std::mutex mutex_;
  std::vector<HookRecord> records_;
};

TEST_F(ThreadExceptions, PyconcErrorGoesToExcepthookWithPythonName) {
  threading::Thread t({.name = "raiser"}, [] { throw pyconc::ValueError("bad value"); });
  t.start();
  t.join();  // the hook has run by the time join() returns
  auto rs = records();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].exc_type, "ValueError");
  EXPECT_EQ(rs[0].message, "bad value");
  EXPECT_EQ(rs[0].thread_name, "raiser");
  EXPECT_EQ(rs[0].thread_ident, t.ident());
  EXPECT_EQ(rs[0].reporting_ident, *t.ident());  // called in the failing thread
  EXPECT_FALSE(t.is_alive());
}

TEST_F(ThreadExceptions, StdExceptionGoesToExcepthookWithCxxName) {
  threading::Thread t([] { throw std::runtime_error("std failure"); });
  t.start();
  t.join();
  auto rs = records();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].exc_type, "std::runtime_error");
  EXPECT_EQ(rs[0].message, "std failure");
  EXPECT_EQ(rs[0].thread_name, t.name());
}

TEST_F(ThreadExceptions, NonStdExceptionIsReportedToo) {
  threading::Thread t([] { throw 42; });
  t.start();
  t.join();
  auto rs = records();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].exc_type, "int");
}

class FailingRun : public threading::Thread {
 public:
  void run() override { throw pyconc::RuntimeError("run failed"); }
};

TEST_F(ThreadExceptions, SubclassExceptionNamesTheSubclassObject) {
  FailingRun f;
  f.set_name("failing-subclass");
  f.start();
  f.join();
  auto rs = records();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].exc_type, "RuntimeError");
  EXPECT_EQ(rs[0].message, "run failed");
  EXPECT_EQ(rs[0].thread_name, "failing-subclass");
  EXPECT_EQ(rs[0].thread, &f);
}

TEST_F(ThreadExceptions, TheProcessGoesOn) {
  for (int i = 0; i < 3; ++i) {
    threading::Thread t([i] { throw pyconc::ValueError("failure " + std::to_string(i)); });
    t.start();
    t.join();
  }
  std::atomic<bool> ran{false};
  threading::Thread ok([&] { ran = true; });
  ok.start();
  ok.join();
  EXPECT_TRUE(ran.load());
  auto rs = records();
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[2].message, "failure 2");
}

TEST_F(ThreadExceptions, DefaultHookPrintsToStderr) {
  threading::excepthook = threading::default_excepthook;
  testing::internal::CaptureStderr();
  threading::Thread t({.name = "loud"}, [] { throw pyconc::ValueError("printed"); });
  t.start();
  t.join();
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "Exception in thread loud:\nValueError: printed\n");
}

}  // namespace
