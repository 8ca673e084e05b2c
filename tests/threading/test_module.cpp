// threading's module-level functions: current_thread, main_thread, enumerate,
// active_count, get_ident, get_native_id, stack_size, excepthook, default_excepthook,
// TIMEOUT_MAX; and what happens to running threads when the program exits.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <pyconc/threading.hpp>

#include "support.hpp"

#ifndef PYCONC_EXIT_HELPER
#error "PYCONC_EXIT_HELPER must name the exit_behaviour helper program"
#endif

extern char** environ;

namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::Clock;
using pyconc_test::eventually;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;

namespace {

std::vector<std::string> names_listed() {
  std::vector<std::string> names;
  for (const auto& t : threading::enumerate()) names.push_back(t->name());
  return names;
}

bool listed(const std::string& name) {
  auto names = names_listed();
  return std::find(names.begin(), names.end(), name) != names.end();
}

// ---- current_thread / main_thread -------------------------------------------------------

TEST(MainThread, IsTheCurrentThreadOfMain) {
  threading::Thread& main = threading::main_thread();
  EXPECT_EQ(&threading::current_thread(), &main);
  EXPECT_TRUE(threading::current_thread() == main);
  EXPECT_EQ(main.name(), "MainThread");
  EXPECT_FALSE(main.daemon());
  EXPECT_TRUE(main.is_alive());
  ASSERT_TRUE(main.ident().has_value());
  EXPECT_EQ(*main.ident(), threading::get_ident());
  ASSERT_TRUE(main.native_id().has_value());
  EXPECT_EQ(*main.native_id(), threading::get_native_id());
  EXPECT_EQ(*main.native_id(), static_cast<long>(getpid()));
}

TEST(MainThread, CannotBeJoinedFromItselfNorMadeDaemon) {
  threading::Thread& main = threading::main_thread();
  EXPECT_THROW(main.join(), pyconc::RuntimeError);
  EXPECT_THROW(main.join(1s), pyconc::RuntimeError);
  EXPECT_THROW(main.start(), pyconc::RuntimeError);
  EXPECT_THROW(main.set_daemon(true), pyconc::RuntimeError);
  EXPECT_FALSE(main.daemon());
}

TEST(MainThread, SeenAsMainFromOtherThreads) {
  std::optional<bool> main_is_main, main_is_current, main_alive;
  std::string main_name;
  threading::Thread t([&] {
    main_is_main = &threading::main_thread() == &threading::main_thread();
    main_is_current = threading::main_thread() == threading::current_thread();
    main_alive = threading::main_thread().is_alive();
    main_name = threading::main_thread().name();
  });
  t.start();
  t.join();
  ASSERT_TRUE(main_is_main && main_is_current && main_alive);
  EXPECT_TRUE(*main_is_main);
  EXPECT_FALSE(*main_is_current);
  EXPECT_TRUE(*main_alive);
  EXPECT_EQ(main_name, "MainThread");
}

TEST(CurrentThread, InsideAThreadIsThatThread) {
  std::optional<bool> is_t, same_object_twice;
  std::string name;
  std::optional<unsigned long> ident;
  threading::Thread* self = nullptr;
  threading::Thread t({.name = "inside"}, [&] {
    threading::Thread& c = threading::current_thread();
    is_t = c == *self;
    same_object_twice = &c == &threading::current_thread();
    name = c.name();
    ident = c.ident();
  });
  self = &t;
  t.start();
  t.join();
  ASSERT_TRUE(is_t && same_object_twice);
  EXPECT_TRUE(*is_t);
  EXPECT_TRUE(*same_object_twice);
  EXPECT_EQ(name, "inside");
  EXPECT_EQ(ident, t.ident());
  EXPECT_FALSE(threading::current_thread() == t);  // main is not t
}

class Recorder : public threading::Thread {
 public:
  void run() override { current_ = &threading::current_thread(); }
  const threading::Thread* current() const { return current_; }

 private:
  const threading::Thread* current_ = nullptr;
};

TEST(CurrentThread, InsideASubclassThreadIsTheObjectItself) {
  Recorder r;
  r.start();
  r.join();
  EXPECT_EQ(r.current(), &r);
}

TEST(CurrentThread, InAStdThreadIsADummy) {
  threading::Event reported, go;
  std::string name;
  std::optional<bool> daemon, alive, same_twice, join_raised, timed_join_raised, child_daemon;
  std::optional<unsigned long> ident, real_ident;
  std::optional<long> native, real_native;
  std::thread t([&] {
    threading::Thread& me = threading::current_thread();
    name = me.name();
    daemon = me.daemon();
    alive = me.is_alive();
    same_twice = &me == &threading::current_thread();
    ident = me.ident();
    native = me.native_id();
    real_ident = threading::get_ident();
    real_native = threading::get_native_id();
    join_raised = false;
    try {
      me.join();
    } catch (const pyconc::RuntimeError&) {
      join_raised = true;
    }
    timed_join_raised = false;
    try {
      me.join(10ms);
    } catch (const pyconc::RuntimeError&) {
      timed_join_raised = true;
    }
    threading::Thread child([] {});  // inherits the dummy's daemon flag
    child_daemon = child.daemon();
    reported.set();
    go.wait();
  });
  ASSERT_TRUE(reported.wait(kPrompt * 1s));
  EXPECT_EQ(name.rfind("Dummy-", 0), 0u) << name;
  EXPECT_TRUE(daemon.value_or(false));
  EXPECT_TRUE(alive.value_or(false));
  EXPECT_TRUE(same_twice.value_or(false));
  EXPECT_TRUE(join_raised.value_or(false));
  EXPECT_TRUE(timed_join_raised.value_or(false));
  EXPECT_TRUE(child_daemon.value_or(false));
  EXPECT_EQ(ident, real_ident);
  EXPECT_EQ(native, real_native);

  // Listed while the std::thread lives, and joinable by nobody.
  std::shared_ptr<threading::Thread> entry;
  for (auto& e : threading::enumerate())
    if (e->name() == name) entry = e;
  ASSERT_TRUE(entry);
  EXPECT_TRUE(entry->is_alive());
  EXPECT_TRUE(entry->daemon());
  EXPECT_THROW(entry->join(), pyconc::RuntimeError);

  go.set();
  t.join();
  EXPECT_TRUE(eventually([&] { return !listed(name); }, kPrompt * 1s));
  EXPECT_FALSE(entry->is_alive());
}

TEST(CurrentThread, EachStdThreadGetsItsOwnDummy) {
  std::string a, b;
  std::thread ta([&] { a = threading::current_thread().name(); });
  ta.join();
  std::thread tb([&] { b = threading::current_thread().name(); });
  tb.join();
  EXPECT_EQ(a.rfind("Dummy-", 0), 0u) << a;
  EXPECT_EQ(b.rfind("Dummy-", 0), 0u) << b;
  EXPECT_NE(a, b);
  EXPECT_TRUE(eventually([&] { return !listed(a) && !listed(b); }, kPrompt * 1s));
}

TEST(CurrentThread, StdThreadThatNeverAsksIsNotListed) {
  std::size_t before = threading::active_count();
  threading::Event running, go;
  std::thread t([&] {
    running.set();
    go.wait();
  });
  ASSERT_TRUE(running.wait(kPrompt * 1s));
  EXPECT_EQ(threading::active_count(), before);
  go.set();
  t.join();
}

// ---- enumerate / active_count -----------------------------------------------------------

TEST(Enumerate, ContainsMainAndRunningThreads) {
  threading::Event go;
  std::vector<threading::Thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back(threading::ThreadOptions{.name = "enum-" + std::to_string(i)}, [&] { go.wait(); });
  std::size_t before = threading::active_count();
  EXPECT_TRUE(listed("MainThread"));
  EXPECT_FALSE(listed("enum-0"));  // not started yet
  for (auto& t : threads) t.start();

  auto all = threading::enumerate();
  EXPECT_EQ(all.size(), threading::active_count());
  EXPECT_EQ(threading::active_count(), before + 3);
  int found = 0;
  bool main_found = false;
  for (auto& e : all) {
    if (*e == threading::main_thread()) main_found = true;
    for (auto& t : threads)
      if (*e == t) ++found;
  }
  EXPECT_TRUE(main_found);
  EXPECT_EQ(found, 3);

  go.set();
  for (auto& t : threads) t.join();
  // join() returns after the thread left the registry.
  EXPECT_EQ(threading::active_count(), before);
  EXPECT_FALSE(listed("enum-0"));
  EXPECT_FALSE(listed("enum-2"));
}

TEST(Enumerate, AFinishedThreadDisappears) {
  threading::Thread t({.name = "short-lived"}, [] {});
  t.start();
  t.join();
  EXPECT_FALSE(listed("short-lived"));
  for (auto& e : threading::enumerate()) EXPECT_FALSE(*e == t);
}

TEST(Enumerate, HandlesFromEnumerateAreTheThreads) {
  threading::Event go;
  threading::Thread t({.name = "via-enumerate"}, [&] { go.wait(); });
  t.start();
  std::shared_ptr<threading::Thread> e;
  for (auto& x : threading::enumerate())
    if (x->name() == "via-enumerate") e = x;
  ASSERT_TRUE(e);
  EXPECT_TRUE(*e == t);
  EXPECT_EQ(e->ident(), t.ident());
  e->set_name("renamed-via-enumerate");
  EXPECT_EQ(t.name(), "renamed-via-enumerate");
  EXPECT_THROW(e->start(), pyconc::RuntimeError);
  EXPECT_FALSE(e->join(0s));
  go.set();
  EXPECT_TRUE(e->join(kPrompt * 1s));
  EXPECT_FALSE(t.is_alive());
}

TEST(Enumerate, PythonIdiomJoinsEveryOtherThread) {
  std::atomic<int> finished{0};
  threading::Event go;
  for (int i = 0; i < 4; ++i) {
    threading::Thread t([&] {
      go.wait();
      ++finished;
    });
    t.start();  // handle dropped
  }
  go.set();
  // for t in threading.enumerate(): if t is not threading.main_thread(): t.join()
  for (auto& t : threading::enumerate()) {
    if (*t != threading::main_thread()) t->join();
  }
  EXPECT_EQ(finished.load(), 4);
  EXPECT_EQ(threading::active_count(), 1u);
}

TEST(ActiveCount, CountsConsistentWhileThreadsComeAndGo) {
  std::size_t base = threading::active_count();
  EXPECT_GE(base, 1u);
  std::vector<std::unique_ptr<threading::Event>> gates;
  std::vector<threading::Thread> threads;
  for (int i = 0; i < 5; ++i) {
    gates.push_back(std::make_unique<threading::Event>());
    threading::Event* gate = gates.back().get();
    threads.emplace_back([gate] { gate->wait(); });
    threads.back().start();
    EXPECT_EQ(threading::active_count(), base + static_cast<std::size_t>(i) + 1);
  }
  for (int i = 0; i < 5; ++i) {
    gates[static_cast<std::size_t>(i)]->set();
    threads[static_cast<std::size_t>(i)].join();
    EXPECT_EQ(threading::active_count(), base + 4 - static_cast<std::size_t>(i));
    EXPECT_EQ(threading::enumerate().size(), threading::active_count());
  }
}

// ---- get_ident / get_native_id ----------------------------------------------------------

TEST(Ident, DistinctPerLiveThreadAndMatchingTheKernel) {
  constexpr int kThreads = 4;
  threading::Barrier all_here(kThreads + 1);
  std::mutex mutex;
  std::set<unsigned long> idents{threading::get_ident()};
  std::set<long> natives{threading::get_native_id()};
  std::atomic<int> kernel_mismatch{0};
  std::vector<threading::Thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      if (threading::get_native_id() != static_cast<long>(syscall(SYS_gettid))) ++kernel_mismatch;
      if (threading::get_ident() != static_cast<unsigned long>(pthread_self())) ++kernel_mismatch;
      {
        std::lock_guard<std::mutex> guard(mutex);
        idents.insert(threading::get_ident());
        natives.insert(threading::get_native_id());
      }
      all_here.wait(kPrompt * 1s);  // all alive at once: ids cannot be reused
    });
  }
  for (auto& t : threads) t.start();
  all_here.wait(kPrompt * 1s);
  for (auto& t : threads) t.join();
  EXPECT_EQ(kernel_mismatch.load(), 0);
  EXPECT_EQ(idents.size(), static_cast<std::size_t>(kThreads + 1));
  EXPECT_EQ(natives.size(), static_cast<std::size_t>(kThreads + 1));
  EXPECT_EQ(threading::get_native_id(), static_cast<long>(getpid()));  // main
}

// ---- stack_size -------------------------------------------------------------------------

TEST(StackSize, SetGetAndValidate) {
  EXPECT_EQ(threading::stack_size(), 0u);
  EXPECT_EQ(threading::stack_size(32768 * 8), 0u);  // returns the old size
  EXPECT_EQ(threading::stack_size(), 32768u * 8);
  EXPECT_THROW(threading::stack_size(32767), pyconc::ValueError);
  EXPECT_THROW(threading::stack_size(1), pyconc::ValueError);
  // Python's stack_size(-1) is a ValueError; a size that wrapped to 2^64-1 would not be.
  EXPECT_EQ(pyconc_test::message_of<pyconc::ValueError>([] { threading::stack_size(-1); }),
            "size must be 0 or a positive value");
  EXPECT_EQ(pyconc_test::message_of<pyconc::ValueError>([] { threading::stack_size(100); }),
            "size not valid: 100 bytes");
  EXPECT_EQ(threading::stack_size(), 32768u * 8);  // unchanged by the failures
  EXPECT_EQ(threading::stack_size(32768 * 4), 32768u * 8);
  EXPECT_EQ(threading::stack_size(), 32768u * 4);

  // A thread started with the size set runs normally.
  std::atomic<long> result{0};
  threading::Thread t([&] {
    char buffer[16 * 1024];
    for (std::size_t i = 0; i < sizeof buffer; ++i) buffer[i] = static_cast<char>(i);
    long sum = 0;
    for (char c : buffer) sum += static_cast<unsigned char>(c);
    result = sum;
  });
  t.start();
  t.join();
  EXPECT_EQ(result.load(), 64L * (255 * 256 / 2));

  EXPECT_EQ(threading::stack_size(0), 32768u * 4);  // back to the default
  EXPECT_EQ(threading::stack_size(), 0u);
  EXPECT_EQ(threading::stack_size(32768), 0u);  // the minimum is accepted
  EXPECT_EQ(threading::stack_size(0), 32768u);
}

// ---- TIMEOUT_MAX ------------------------------------------------------------------------

TEST(TimeoutMax, IsLargeAndWaitsWork) {
  EXPECT_GT(threading::TIMEOUT_MAX.count(), 1e9);  // Python: about 9.2e9 on Linux
  threading::Event go;
  threading::Thread t([&] { go.wait(threading::TIMEOUT_MAX); });
  t.start();
  go.set();
  EXPECT_TRUE(t.join(threading::TIMEOUT_MAX));
  threading::Event set;
  set.set();
  EXPECT_TRUE(set.wait(threading::TIMEOUT_MAX));
}

// ---- excepthook -------------------------------------------------------------------------

class Excepthook : public ::testing::Test {
 protected:
  void SetUp() override { threading::excepthook = threading::default_excepthook; }
  void TearDown() override { threading::excepthook = saved_; }  // Python's idiom

 private:
  threading::ExceptHook saved_ = threading::excepthook;
};

pyconc::ValueError make_value_error(const std::string& message) { return pyconc::ValueError(message); }

TEST_F(Excepthook, ReplacedHookIsCalledDirectlyAndForThreads) {
  std::mutex mutex;
  std::vector<std::string> calls;
  threading::excepthook = [&](const threading::ExceptHookArgs& args) {
    std::string message;
    try {
      std::rethrow_exception(args.exc_value);
    } catch (const std::exception& e) {
      message = e.what();
    }
    std::lock_guard<std::mutex> guard(mutex);
    calls.push_back(args.exc_type + "|" + message + "|" + (args.thread ? args.thread->name() : "null"));
  };
  threading::excepthook(threading::ExceptHookArgs{std::make_exception_ptr(make_value_error("direct")), "ValueError",
                                                  &threading::main_thread()});
  threading::Thread t({.name = "failing"}, [] { throw std::out_of_range("index"); });
  t.start();
  t.join();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], "ValueError|direct|MainThread");
  EXPECT_EQ(calls[1], "std::out_of_range|index|failing");
}

TEST_F(Excepthook, DefaultHookFormat) {
  testing::internal::CaptureStderr();
  threading::default_excepthook(threading::ExceptHookArgs{std::make_exception_ptr(make_value_error("direct")),
                                                          "ValueError", &threading::main_thread()});
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "Exception in thread MainThread:\nValueError: direct\n");

  // Without a thread, Python names it by its ident.
  testing::internal::CaptureStderr();
  threading::default_excepthook(
      threading::ExceptHookArgs{std::make_exception_ptr(std::runtime_error("lonely")), "std::runtime_error", nullptr});
  err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "Exception in thread " + std::to_string(threading::get_ident()) +
                     ":\nstd::runtime_error: lonely\n");
}

TEST_F(Excepthook, DefaultHookReportsThreadsOnStderr) {
  testing::internal::CaptureStderr();
  threading::Thread t({.name = "reporter"}, [] { throw std::runtime_error("went wrong"); });
  t.start();
  t.join();
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "Exception in thread reporter:\nstd::runtime_error: went wrong\n");
}

TEST_F(Excepthook, RestoringTheDefaultHook) {
  std::atomic<int> custom{0};
  threading::excepthook = [&](const threading::ExceptHookArgs&) { ++custom; };
  threading::excepthook = threading::default_excepthook;
  testing::internal::CaptureStderr();
  threading::Thread t({.name = "restored"}, [] { throw pyconc::ValueError("v"); });
  t.start();
  t.join();
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(custom.load(), 0);
  EXPECT_EQ(err, "Exception in thread restored:\nValueError: v\n");
}

TEST_F(Excepthook, AHookThatThrowsIsReportedAndTheProcessGoesOn) {
  threading::excepthook = [](const threading::ExceptHookArgs&) { throw pyconc::RuntimeError("hook failed"); };
  testing::internal::CaptureStderr();
  threading::Thread t([] { throw pyconc::ValueError("original"); });
  t.start();
  t.join();
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("Exception in threading.excepthook:"), std::string::npos) << err;
  EXPECT_NE(err.find("RuntimeError: hook failed"), std::string::npos) << err;

  std::atomic<bool> ran{false};
  threading::Thread after([&] { ran = true; });
  after.start();
  after.join();
  EXPECT_TRUE(ran.load());
}

TEST_F(Excepthook, ReplacingWhileThreadsFailIsSafe) {
  constexpr int kThreads = 8;
  std::atomic<int> first{0}, second{0};
  threading::excepthook = [&](const threading::ExceptHookArgs&) { ++first; };
  threading::Event go;
  std::vector<threading::Thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      go.wait();
      throw pyconc::ValueError("concurrent");
    });
  }
  for (auto& t : threads) t.start();
  go.set();
  threading::excepthook = [&](const threading::ExceptHookArgs&) { ++second; };
  for (auto& t : threads) t.join();
  EXPECT_EQ(first.load() + second.load(), kThreads);
}

// Python's own tests save and restore the hook: old = threading.excepthook; ...;
// threading.excepthook = old.

void fail_in_a_thread(const char* message) {
  threading::Thread t([message] { throw pyconc::ValueError(message); });
  t.start();
  t.join();
}

threading::ExceptHookArgs direct_args() {
  return {std::make_exception_ptr(make_value_error("direct")), "ValueError", &threading::main_thread()};
}

TEST_F(Excepthook, SaveReplaceRestoreAsInPython) {
  std::atomic<int> a{0}, b{0};
  threading::excepthook = [&](const threading::ExceptHookArgs&) { ++a; };
  auto old = threading::excepthook;  // Python: old = threading.excepthook
  threading::excepthook = [&](const threading::ExceptHookArgs&) { ++b; };
  fail_in_a_thread("while replaced");
  EXPECT_EQ(a.load(), 0);
  EXPECT_EQ(b.load(), 1);
  threading::excepthook = old;  // Python: threading.excepthook = old
  fail_in_a_thread("after restore");
  EXPECT_EQ(a.load(), 1);
  EXPECT_EQ(b.load(), 1);
  threading::excepthook(direct_args());
  EXPECT_EQ(a.load(), 2);
  EXPECT_EQ(b.load(), 1);
}

TEST_F(Excepthook, ASavedHookIsTheHookOfThatMoment) {
  std::atomic<int> a{0}, b{0};
  threading::excepthook = [&](const threading::ExceptHookArgs&) { ++a; };
  auto old = threading::excepthook;
  threading::ExceptHook::Function as_function = threading::excepthook;
  threading::excepthook = [&](const threading::ExceptHookArgs&) { ++b; };
  old(direct_args());  // still the hook saved, not the one installed since
  as_function(direct_args());
  EXPECT_EQ(a.load(), 2);
  EXPECT_EQ(b.load(), 0);
  auto copy_of_saved = old;  // a copy of a saved hook is the same saved hook
  copy_of_saved(direct_args());
  EXPECT_EQ(a.load(), 3);
  threading::excepthook = as_function;  // a std::function restores as well
  fail_in_a_thread("restored from a function");
  EXPECT_EQ(a.load(), 4);
  EXPECT_EQ(b.load(), 0);
}

TEST_F(Excepthook, ANewHookMayChainToTheSavedOne) {
  std::atomic<int> a{0}, logged{0};
  threading::excepthook = [&](const threading::ExceptHookArgs&) { ++a; };
  auto old = threading::excepthook;
  threading::excepthook = [&logged, old](const threading::ExceptHookArgs& args) {
    ++logged;
    old(args);  // the saved hook, never the installed one (no recursion)
  };
  fail_in_a_thread("chained");
  EXPECT_EQ(logged.load(), 1);
  EXPECT_EQ(a.load(), 1);
}

TEST_F(Excepthook, SavingAndRestoringTheDefault) {
  auto old = threading::excepthook;  // the default is installed (fixture)
  std::atomic<int> custom{0};
  threading::excepthook = [&](const threading::ExceptHookArgs&) { ++custom; };
  threading::excepthook = old;
  testing::internal::CaptureStderr();
  threading::Thread t({.name = "restored-default"}, [] { throw pyconc::ValueError("v"); });
  t.start();
  t.join();
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(custom.load(), 0);
  EXPECT_EQ(err, "Exception in thread restored-default:\nValueError: v\n");
  // A default-constructed ExceptHook is Python's threading.__excepthook__.
  threading::excepthook = [&](const threading::ExceptHookArgs&) { ++custom; };
  threading::excepthook = threading::ExceptHook();
  testing::internal::CaptureStderr();
  threading::excepthook(direct_args());
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "Exception in thread MainThread:\nValueError: direct\n");
  EXPECT_EQ(custom.load(), 0);
}

TEST_F(Excepthook, SaveAndRestoreFromSeveralThreads) {
  // Threads save and restore the hook while others fail and while it is replaced: every
  // saved hook is a whole hook that can be called, every failure reaches one of the
  // hooks, and what is left installed is what was installed last.
  constexpr int kSavers = 4, kRounds = 200, kFailing = 8;
  std::atomic<int> a{0}, b{0};
  threading::ExceptHook::Function hook_a = [&](const threading::ExceptHookArgs&) { ++a; };
  threading::ExceptHook::Function hook_b = [&](const threading::ExceptHookArgs&) { ++b; };
  threading::excepthook = hook_a;
  std::atomic<int> direct_calls{0};
  std::vector<threading::Thread> threads;
  for (int i = 0; i < kSavers; ++i) {
    threads.emplace_back([&] {
      for (int r = 0; r < kRounds; ++r) {
        auto old = threading::excepthook;
        old(direct_args());
        ++direct_calls;
        threading::excepthook = old;
      }
    });
  }
  for (int i = 0; i < kFailing; ++i) threads.emplace_back([] { throw pyconc::ValueError("failing"); });
  for (auto& t : threads) t.start();
  for (int r = 0; r < kRounds; ++r) {  // the savers race with these replacements
    threading::excepthook = (r % 2 == 0) ? hook_b : hook_a;
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(a.load() + b.load(), direct_calls.load() + kFailing);
  EXPECT_EQ(direct_calls.load(), kSavers * kRounds);
  // No replacement is running now: one last save and restore leaves what it found.
  threading::excepthook = hook_a;
  auto old = threading::excepthook;
  threading::excepthook = hook_b;
  threading::excepthook = old;
  int before = a.load();
  fail_in_a_thread("settled");
  EXPECT_EQ(a.load(), before + 1);
}

TEST_F(Excepthook, AForkedChildKeepsTheInstalledHook) {
  // As in Python, a child made by fork() has the hook its parent installed.
  threading::excepthook = [](const threading::ExceptHookArgs&) { _exit(42); };
  pid_t pid = fork();
  ASSERT_NE(pid, -1);
  if (pid == 0) {
    threading::Thread t([] { throw pyconc::ValueError("in the child"); });
    t.start();
    t.join();
    _exit(1);  // the default hook ran instead
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 42);
}

// ---- exit behaviour (runs the helper program) -------------------------------------------

struct RunResult {
  std::string output;  // stdout and stderr, interleaved
  int exit_code = -1;  // -1 unless exited normally
  bool timed_out = false;
  double seconds = 0;
};

RunResult run_helper(const std::string& mode, double timeout_seconds = 60) {
  RunResult result;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  std::string path = PYCONC_EXIT_HELPER;
  std::vector<char*> argv{path.data(), const_cast<char*>(mode.c_str()), nullptr};
  // The environment, minus ThreadSanitizer's 1 s pause at exit (it would only slow down
  // every run; races are still reported when they happen).
  std::vector<std::string> env_strings;
  std::string tsan = "TSAN_OPTIONS=atexit_sleep_ms=0";
  for (char** e = environ; *e != nullptr; ++e) {
    std::string var = *e;
    if (var.rfind("TSAN_OPTIONS=", 0) == 0)
      tsan = var + ":atexit_sleep_ms=0";
    else
      env_strings.push_back(std::move(var));
  }
  env_strings.push_back(tsan);
  std::vector<char*> envp;
  for (auto& var : env_strings) envp.push_back(var.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  auto start = Clock::now();
  int rc = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    throw std::runtime_error("posix_spawn failed: " + std::to_string(rc));
  }
  char buffer[4096];
  for (;;) {
    double left = timeout_seconds - seconds_since(start);
    if (left <= 0) {
      result.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(left * 1000) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    ssize_t n = read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: every copy of the write end is closed
    result.output.append(buffer, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.seconds = seconds_since(start);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

// Position of `line` as a whole line in `output`, or npos.
std::size_t line_at(const std::string& output, const std::string& line) {
  std::size_t pos = 0;
  while ((pos = output.find(line + "\n", pos)) != std::string::npos) {
    if (pos == 0 || output[pos - 1] == '\n') return pos;
    ++pos;
  }
  return std::string::npos;
}

TEST(ExitBehaviour, MainReturningWaitsForNonDaemonThreads) {
  RunResult r = run_helper("nondaemon");
  ASSERT_FALSE(r.timed_out) << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::size_t returned = line_at(r.output, "main returns");
  std::size_t done = line_at(r.output, "worker done");
  ASSERT_NE(returned, std::string::npos) << r.output;
  ASSERT_NE(done, std::string::npos) << r.output;
  EXPECT_LT(returned, done) << r.output;
  EXPECT_GE(r.seconds, 0.2 - 0.005);  // the worker's 200 ms of work
}

TEST(ExitBehaviour, DaemonThreadsAreAbandonedAtExit) {
  RunResult r = run_helper("daemon");
  ASSERT_FALSE(r.timed_out) << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(line_at(r.output, "main returns"), std::string::npos) << r.output;
  EXPECT_LT(r.seconds, kPrompt) << r.output;
}

TEST(ExitBehaviour, ExitWaitsForNonDaemonThreads) {
  RunResult r = run_helper("exit");
  ASSERT_FALSE(r.timed_out) << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::size_t called = line_at(r.output, "main calls exit");
  std::size_t done = line_at(r.output, "worker done");
  ASSERT_NE(called, std::string::npos) << r.output;
  ASSERT_NE(done, std::string::npos) << r.output;
  EXPECT_LT(called, done) << r.output;
}

TEST(ExitBehaviour, WaitsForNonDaemonButNotForDaemonThreads) {
  RunResult r = run_helper("mixed");
  ASSERT_FALSE(r.timed_out) << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(line_at(r.output, "worker done"), std::string::npos) << r.output;
  EXPECT_LT(r.seconds, kPrompt) << r.output;
}

TEST(ExitBehaviour, GlobalsOutliveTheJoinedThreads) {
  RunResult r = run_helper("global");
  ASSERT_FALSE(r.timed_out) << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::size_t alive = line_at(r.output, "global alive");
  std::size_t done = line_at(r.output, "worker done");
  std::size_t destroyed = line_at(r.output, "global destroyed");
  ASSERT_NE(alive, std::string::npos) << r.output;
  ASSERT_NE(done, std::string::npos) << r.output;
  ASSERT_NE(destroyed, std::string::npos) << r.output;
  EXPECT_LT(done, destroyed) << r.output;
}

TEST(ExitBehaviour, StaticsMadeBeforeTheFirstStartOutliveTheJoinedThreads) {
  RunResult r = run_helper("static");
  ASSERT_FALSE(r.timed_out) << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::size_t alive = line_at(r.output, "static alive");
  std::size_t done = line_at(r.output, "worker done");
  std::size_t destroyed = line_at(r.output, "static destroyed");
  ASSERT_NE(alive, std::string::npos) << r.output;
  ASSERT_NE(done, std::string::npos) << r.output;
  ASSERT_NE(destroyed, std::string::npos) << r.output;
  EXPECT_LT(done, destroyed) << r.output;
}

TEST(ExitBehaviour, ExitFromAWorkerJoinsTheOtherThreads) {
  RunResult r = run_helper("exit_from_thread");
  ASSERT_FALSE(r.timed_out) << r.output;
  EXPECT_EQ(r.exit_code, 3) << r.output;
  std::size_t called = line_at(r.output, "exiter calls exit");
  std::size_t done = line_at(r.output, "worker done");
  ASSERT_NE(called, std::string::npos) << r.output;
  ASSERT_NE(done, std::string::npos) << r.output;
  EXPECT_EQ(line_at(r.output, "unreachable"), std::string::npos) << r.output;
}

}  // namespace
