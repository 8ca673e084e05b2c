// threading::Thread: what it runs (a target with arguments, or a subclass's run()) and
// its name. Starting and joining are in test_thread_lifecycle.cpp, handles in
// test_thread_handle.cpp, exceptions escaping a thread in test_thread_exceptions.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <pyconc/threading.hpp>

#include "support.hpp"

namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::Clock;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;

namespace {

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

}  // namespace
