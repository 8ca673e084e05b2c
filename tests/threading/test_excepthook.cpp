// threading.excepthook and default_excepthook: what reports an exception that escapes a
// thread's run(), and saving, replacing and restoring the hook as Python code does.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <pyconc/threading.hpp>

namespace threading = pyconc::threading;

namespace {

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

}  // namespace
