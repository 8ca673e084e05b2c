// Exceptions escaping a thread's run(): each reaches threading.excepthook with its type
// name, message and thread, and the process goes on.
#include <gtest/gtest.h>

#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <pyconc/threading.hpp>

namespace threading = pyconc::threading;

namespace {

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
