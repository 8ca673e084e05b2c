// threading::Timer: fires after its interval unless cancelled; it is a Thread.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
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

constexpr double kEpsilon = 0.005;  // clock granularity slack for lower bounds

bool listed(const std::string& name) {
  for (const auto& t : threading::enumerate())
    if (t->name() == name) return true;
  return false;
}

TEST(Timer, FiresAfterTheInterval) {
  threading::Event fired;
  std::atomic<double> fired_after{-1.0};
  auto start = Clock::now();
  threading::Timer t(100ms, [&] {
    fired_after = seconds_since(start);
    fired.set();
  });
  t.start();
  ASSERT_TRUE(fired.wait(kPrompt * 1s));
  t.join();
  EXPECT_GE(fired_after.load(), 0.1 - kEpsilon);
  EXPECT_LT(fired_after.load(), kPrompt);
}

TEST(Timer, DoesNotFireBeforeTheInterval) {
  std::atomic<int> calls{0};
  threading::Timer t(300ms, [&] { ++calls; });
  auto start = Clock::now();
  t.start();
  bool finished_early = t.join(30ms);  // negative check: still waiting
  if (seconds_since(start) < 0.3 - kEpsilon) {  // (unless the machine stalled that long)
    EXPECT_FALSE(finished_early);
    EXPECT_EQ(calls.load(), 0);
  }
  t.join();
  EXPECT_GE(seconds_since(start), 0.3 - kEpsilon);
  EXPECT_EQ(calls.load(), 1);
}

TEST(Timer, CancelBeforeFiringPreventsTheCall) {
  std::atomic<int> calls{0};
  threading::Timer t(10s, [&] { ++calls; });
  t.start();
  auto start = Clock::now();
  t.cancel();
  EXPECT_TRUE(t.join(kPrompt * 1s));  // finishes promptly, not after 10 s
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_FALSE(t.is_alive());
  EXPECT_EQ(calls.load(), 0);
}

TEST(Timer, CancelBeforeStartPreventsTheCall) {
  std::atomic<int> calls{0};
  threading::Timer t(10s, [&] { ++calls; });
  t.cancel();
  auto start = Clock::now();
  t.start();
  EXPECT_TRUE(t.join(kPrompt * 1s));
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_EQ(calls.load(), 0);
}

TEST(Timer, CancelAfterFiringHasNoEffect) {
  std::atomic<int> calls{0};
  threading::Timer t(1ms, [&] { ++calls; });
  t.start();
  t.join();
  EXPECT_EQ(calls.load(), 1);
  t.cancel();
  t.cancel();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_FALSE(t.is_alive());
}

TEST(Timer, CancelWhileTheFunctionRunsDoesNotStopIt) {
  threading::Event running, go;
  std::atomic<bool> completed{false};
  threading::Timer t(1ms, [&] {
    running.set();
    go.wait();
    completed = true;
  });
  t.start();
  ASSERT_TRUE(running.wait(kPrompt * 1s));
  t.cancel();
  go.set();
  t.join();
  EXPECT_TRUE(completed.load());
}

TEST(Timer, ZeroOrNegativeIntervalFiresAtOnce) {
  for (auto interval : {0.0, -1.0}) {
    threading::Event fired;
    threading::Timer t(pyconc::Seconds(interval), [&] { fired.set(); });
    auto start = Clock::now();
    t.start();
    EXPECT_TRUE(fired.wait(kPrompt * 1s));
    EXPECT_LT(seconds_since(start), kPrompt);
    t.join();
  }
}

void record_sum(int a, int b, std::vector<int>* out) { out->push_back(a + b); }

TEST(Timer, PassesArguments) {
  std::vector<int> out;
  threading::Timer t(1ms, record_sum, 3, 4, &out);
  t.start();
  t.join();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], 7);

  int shared = 0;
  std::string copied = "before";
  std::string seen;
  threading::Timer u(
      1ms,
      [&seen](int& s, std::string text) {
        s = 11;
        seen = text;
      },
      std::ref(shared), copied);
  copied = "after";  // the timer holds its own copy
  u.start();
  u.join();
  EXPECT_EQ(shared, 11);
  EXPECT_EQ(seen, "before");
}

TEST(Timer, IsAThread) {
  threading::Event running, go;
  std::atomic<bool> current_is_timer{false};
  std::string name_inside;
  threading::Timer* self = nullptr;
  threading::Timer t(1ms, [&] {
    current_is_timer = threading::current_thread() == *self;
    name_inside = threading::current_thread().name();
    running.set();
    go.wait();
  });
  self = &t;
  threading::Thread& as_thread = t;
  const std::string name = as_thread.name();
  EXPECT_EQ(name.rfind("Thread-", 0), 0u) << name;  // a Thread's default name
  EXPECT_GT(name.size(), 7u) << name;
  EXPECT_EQ(name.find_first_not_of("0123456789", 7), std::string::npos) << name;
  t.set_name("my-timer");
  EXPECT_FALSE(t.daemon());
  t.set_daemon(true);
  EXPECT_TRUE(t.daemon());
  EXPECT_FALSE(t.is_alive());
  EXPECT_FALSE(t.ident().has_value());
  EXPECT_THROW(t.join(), pyconc::RuntimeError);  // not started
  t.start();
  EXPECT_THROW(t.start(), pyconc::RuntimeError);
  EXPECT_THROW(t.set_daemon(false), pyconc::RuntimeError);
  EXPECT_TRUE(t.ident().has_value());
  ASSERT_TRUE(running.wait(kPrompt * 1s));
  EXPECT_TRUE(t.is_alive());
  EXPECT_TRUE(listed("my-timer"));
  EXPECT_FALSE(as_thread.join(10ms));
  go.set();
  EXPECT_TRUE(as_thread.join(kPrompt * 1s));
  EXPECT_FALSE(t.is_alive());
  EXPECT_TRUE(current_is_timer.load());
  EXPECT_EQ(name_inside, "my-timer");
}

TEST(Timer, DroppingAStartedTimerIsFine) {
  auto fired = std::make_shared<threading::Event>();
  std::string name;
  {
    threading::Timer t(20ms, [fired] { fired->set(); });
    t.start();
    name = t.name();
  }
  EXPECT_TRUE(fired->wait(kPrompt * 1s));
  EXPECT_TRUE(eventually([&] { return !listed(name); }));

  // Dropped before it fired, and never cancelled: it still fires.
  auto calls = std::make_shared<std::atomic<int>>(0);
  {
    threading::Timer t(20ms, [calls] { ++*calls; });
    t.start();
    name = t.name();
  }
  EXPECT_TRUE(eventually([&] { return !listed(name); }));
  EXPECT_EQ(calls->load(), 1);
}

TEST(Timer, MovingAStartedTimerKeepsItsCancel) {
  std::atomic<int> calls{0};
  threading::Timer t(10s, [&] { ++calls; });
  t.start();
  threading::Timer u(std::move(t));
  EXPECT_TRUE(u.is_alive());
  u.cancel();
  EXPECT_TRUE(u.join(kPrompt * 1s));
  EXPECT_EQ(calls.load(), 0);
  EXPECT_THROW(t.join(), pyconc::RuntimeError);
  EXPECT_THROW(t.cancel(), pyconc::RuntimeError);  // a moved-from handle
}

TEST(Timer, ManyTimersAllFireOnce) {
  constexpr int kTimers = 8;
  std::atomic<int> calls{0};
  std::vector<std::unique_ptr<threading::Timer>> timers;
  for (int i = 0; i < kTimers; ++i) {
    timers.push_back(std::make_unique<threading::Timer>(std::chrono::milliseconds(5 * i), [&] { ++calls; }));
  }
  for (auto& t : timers) t->start();
  for (auto& t : timers) t->join();
  EXPECT_EQ(calls.load(), kTimers);
}

TEST(Timer, ExceptionInTheFunctionGoesToExcepthook) {
  std::atomic<int> reported{0};
  std::string type;
  threading::excepthook = [&](const threading::ExceptHookArgs& args) {
    type = args.exc_type;
    ++reported;
  };
  threading::Timer t(1ms, [] { throw pyconc::ValueError("timer failed"); });
  t.start();
  t.join();
  threading::excepthook = threading::default_excepthook;
  EXPECT_EQ(reported.load(), 1);
  EXPECT_EQ(type, "ValueError");
}

}  // namespace
