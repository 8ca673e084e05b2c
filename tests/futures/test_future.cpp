// Tests for futures::Future (Python's concurrent.futures.Future) on its own, without an
// executor: the state machine, result()/exception() with and without timeouts,
// Future<void>, move-only results, handle identity (done callbacks:
// test_future_callbacks.cpp).
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <pyconc/errors.hpp>
#include <pyconc/futures.hpp>
#include <pyconc/threading.hpp>

#include "support.hpp"

namespace futures = pyconc::futures;
namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::Clock;
using pyconc_test::asleep_in_futex;
using pyconc_test::eventually;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;

namespace {

/// Runs `fn` in a new thread that first publishes its kernel thread id; join() waits.
class Helper {
 public:
  template <class F>
  explicit Helper(F fn)
      : thread_([this, fn = std::move(fn)]() mutable {
          tid_ = threading::get_native_id();
          fn();
        }) {}
  ~Helper() { join(); }
  Helper(const Helper&) = delete;
  Helper& operator=(const Helper&) = delete;
  /// Waits until the thread sleeps in a futex (blocked in the call under test).
  bool asleep() const {
    return eventually([&] { return tid_.load() != 0 && asleep_in_futex(tid_.load()); }, kPrompt * 1s);
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<long> tid_{0};
  std::thread thread_;
};

template <class T>
futures::Future<T> finished(T value) {
  futures::Future<T> f;
  f.set_result(std::move(value));
  return f;
}

template <class E>
futures::Future<int> failed(E error) {
  futures::Future<int> f;
  f.set_exception(std::make_exception_ptr(std::move(error)));
  return f;
}

}  // namespace

// ----------------------------------------------------------------- the state machine

TEST(Future, NewFutureIsPending) {
  futures::Future<int> f;
  EXPECT_FALSE(f.done());
  EXPECT_FALSE(f.running());
  EXPECT_FALSE(f.cancelled());
}

TEST(Future, CancelPending) {
  futures::Future<int> f;
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(f.cancelled());
  EXPECT_TRUE(f.done());
  EXPECT_FALSE(f.running());
  EXPECT_TRUE(f.cancel()) << "cancelling twice still reports cancelled";
  EXPECT_TRUE(f.cancelled());
}

TEST(Future, CancelRunningFails) {
  futures::Future<int> f;
  ASSERT_TRUE(f.set_running_or_notify_cancel());
  EXPECT_TRUE(f.running());
  EXPECT_FALSE(f.done());
  EXPECT_FALSE(f.cancel());
  EXPECT_TRUE(f.running());
  EXPECT_FALSE(f.cancelled());
  f.set_result(1);
  EXPECT_FALSE(f.running());
  EXPECT_TRUE(f.done());
}

TEST(Future, CancelFinishedFails) {
  auto ok = finished(3);
  EXPECT_FALSE(ok.cancel());
  EXPECT_FALSE(ok.cancelled());
  EXPECT_EQ(ok.result(), 3);
  auto bad = failed(pyconc::ValueError("x"));
  EXPECT_FALSE(bad.cancel());
  EXPECT_FALSE(bad.cancelled());
}

TEST(Future, SetRunningOrNotifyCancel) {
  futures::Future<int> pending;
  EXPECT_TRUE(pending.set_running_or_notify_cancel());
  EXPECT_TRUE(pending.running());
  EXPECT_THROW(pending.set_running_or_notify_cancel(), pyconc::RuntimeError) << "already running";

  futures::Future<int> cancelled;
  cancelled.cancel();
  EXPECT_FALSE(cancelled.set_running_or_notify_cancel());
  EXPECT_TRUE(cancelled.cancelled());
  EXPECT_TRUE(cancelled.done());
  // Cancelled and notified: a second notification is a misuse, as in Python.
  EXPECT_THROW(cancelled.set_running_or_notify_cancel(), pyconc::RuntimeError);
  EXPECT_TRUE(cancelled.cancel());

  auto done = finished(1);
  EXPECT_THROW(done.set_running_or_notify_cancel(), pyconc::RuntimeError);
  EXPECT_EQ(done.result(), 1);
}

TEST(Future, SetResultWithoutRunning) {
  // Python allows finishing a pending future directly.
  futures::Future<int> f;
  f.set_result(8);
  EXPECT_TRUE(f.done());
  EXPECT_EQ(f.result(), 8);
}

TEST(Future, SettingADoneFutureRaisesInvalidStateError) {
  auto ok = finished(1);
  EXPECT_THROW(ok.set_result(2), pyconc::InvalidStateError);
  EXPECT_THROW(ok.set_exception(std::make_exception_ptr(pyconc::ValueError("v"))), pyconc::InvalidStateError);
  EXPECT_EQ(ok.result(), 1) << "the first result stays";

  auto bad = failed(pyconc::ValueError("first"));
  EXPECT_THROW(bad.set_result(2), pyconc::InvalidStateError);
  EXPECT_THROW(bad.set_exception(std::make_exception_ptr(std::runtime_error("second"))), pyconc::InvalidStateError);
  try {
    bad.result();
    ADD_FAILURE() << "no exception";
  } catch (const pyconc::ValueError& e) {
    EXPECT_STREQ(e.what(), "first");
  }

  futures::Future<int> cancelled;
  cancelled.cancel();
  EXPECT_THROW(cancelled.set_result(1), pyconc::InvalidStateError);
  EXPECT_THROW(cancelled.set_exception(std::make_exception_ptr(pyconc::ValueError("v"))), pyconc::InvalidStateError);
  cancelled.set_running_or_notify_cancel();
  EXPECT_THROW(cancelled.set_result(1), pyconc::InvalidStateError);
  EXPECT_TRUE(cancelled.cancelled());

  futures::Future<void> v;
  v.set_result();
  EXPECT_THROW(v.set_result(), pyconc::InvalidStateError);
}

TEST(Future, ConcurrentCancelAndStartHaveOneWinner) {
  for (int round = 0; round < 100; ++round) {
    futures::Future<int> f;
    std::atomic<bool> go{false};
    std::atomic<int> cancel_won{-1}, start_won{-1};
    std::thread canceller([&] {
      while (!go.load()) {
      }
      cancel_won = f.cancel() ? 1 : 0;
    });
    std::thread starter([&] {
      while (!go.load()) {
      }
      start_won = f.set_running_or_notify_cancel() ? 1 : 0;
    });
    go = true;
    canceller.join();
    starter.join();
    ASSERT_NE(cancel_won.load(), start_won.load()) << "round " << round;
    EXPECT_EQ(f.cancelled(), cancel_won.load() == 1);
    EXPECT_EQ(f.running(), start_won.load() == 1);
  }
}

TEST(Future, ConcurrentSetResultHasOneWinner) {
  for (int round = 0; round < 100; ++round) {
    futures::Future<int> f;
    std::atomic<int> wins{0}, invalid{0};
    std::vector<std::thread> setters;
    for (int i = 0; i < 3; ++i)
      setters.emplace_back([&, i] {
        try {
          f.set_result(i);
          ++wins;
        } catch (const pyconc::InvalidStateError&) {
          ++invalid;
        }
      });
    for (auto& t : setters) t.join();
    EXPECT_EQ(wins.load(), 1);
    EXPECT_EQ(invalid.load(), 2);
    EXPECT_TRUE(f.result() >= 0 && f.result() < 3);
  }
}

// ------------------------------------------------------------- result and exception

TEST(Future, ResultTimeoutOnPending) {
  futures::Future<int> f;
  auto start = Clock::now();
  EXPECT_THROW(f.result(150ms), pyconc::TimeoutError);
  double waited = seconds_since(start);
  EXPECT_GE(waited, 0.14);
  EXPECT_LT(waited, kPrompt);

  start = Clock::now();
  EXPECT_THROW(f.result(0s), pyconc::TimeoutError);
  EXPECT_THROW(f.result(-1s), pyconc::TimeoutError);
  EXPECT_THROW(f.exception(0s), pyconc::TimeoutError);
  EXPECT_LT(seconds_since(start), kPrompt);
  // A timeout is also raised on a running future.
  f.set_running_or_notify_cancel();
  EXPECT_THROW(f.result(10ms), pyconc::TimeoutError);
  EXPECT_THROW(f.exception(10ms), pyconc::TimeoutError);
  // futures::TimeoutError is pyconc::TimeoutError, an OSError (Python 3.11+).
  try {
    f.result(0s);
  } catch (const pyconc::OSError& e) {
    EXPECT_STREQ(e.type_name(), "TimeoutError");
  }
}

TEST(Future, ResultWithTimeoutOnDoneFutureReturnsAtOnce) {
  auto f = finished(5);
  EXPECT_EQ(f.result(0s), 5);
  EXPECT_EQ(f.result(-1s), 5);
  EXPECT_EQ(f.exception(0s), nullptr);
}

TEST(Future, ResultRethrowsTheException) {
  auto value_error = failed(pyconc::ValueError("bad"));
  EXPECT_THROW(value_error.result(), pyconc::ValueError);
  EXPECT_THROW(value_error.result(1s), pyconc::ValueError);
  auto runtime_error = failed(std::runtime_error("std"));
  EXPECT_THROW(runtime_error.result(), std::runtime_error);
  auto an_int = failed(7);
  try {
    an_int.result();
    ADD_FAILURE() << "no exception";
  } catch (int x) {
    EXPECT_EQ(x, 7);
  }
}

TEST(Future, Exception) {
  EXPECT_EQ(finished(1).exception(), nullptr);
  EXPECT_EQ(finished(1).exception(1s), nullptr);

  std::exception_ptr original = std::make_exception_ptr(pyconc::ValueError("why"));
  futures::Future<int> bad;
  bad.set_exception(original);
  EXPECT_EQ(bad.exception(), original) << "the exception_ptr that was set";
  EXPECT_EQ(bad.exception(1s), original);
  EXPECT_EQ(bad.exception(), bad.exception());

  futures::Future<int> cancelled;
  cancelled.cancel();
  EXPECT_THROW(cancelled.exception(), pyconc::CancelledError);
  EXPECT_THROW(cancelled.exception(1s), pyconc::CancelledError);
  EXPECT_THROW(cancelled.result(), pyconc::CancelledError);
  EXPECT_THROW(cancelled.result(1s), pyconc::CancelledError);
}

TEST(Future, SetExceptionNeedsAnException) {
  futures::Future<int> f;
  EXPECT_THROW(f.set_exception(nullptr), pyconc::ValueError);
  EXPECT_FALSE(f.done());
}

TEST(Future, BlockedResultIsWokenBySetResult) {
  futures::Future<std::string> f;
  std::string got;
  double waited = -1;
  Helper waiter([&] {
    auto start = Clock::now();
    got = f.result();
    waited = seconds_since(start);
  });
  ASSERT_TRUE(waiter.asleep());
  auto set_at = Clock::now();
  f.set_result("hello");
  waiter.join();
  EXPECT_EQ(got, "hello");
  EXPECT_GE(waited, 0.0);
  EXPECT_LT(seconds_since(set_at), kPrompt);
}

TEST(Future, BlockedResultWithTimeoutIsWokenBySetException) {
  futures::Future<int> f;
  std::atomic<bool> raised{false};
  Helper waiter([&] {
    try {
      f.result(60s);
    } catch (const pyconc::ValueError&) {
      raised = true;
    }
  });
  ASSERT_TRUE(waiter.asleep());
  auto start = Clock::now();
  f.set_exception(std::make_exception_ptr(pyconc::ValueError("late")));
  waiter.join();
  EXPECT_TRUE(raised.load());
  EXPECT_LT(seconds_since(start), kPrompt);
}

TEST(Future, BlockedResultIsWokenByCancel) {
  futures::Future<int> f;
  std::vector<std::unique_ptr<Helper>> waiters;
  std::atomic<int> cancelled{0};
  for (int i = 0; i < 3; ++i)
    waiters.push_back(std::make_unique<Helper>([&, i] {
      try {
        if (i == 0) f.result();
        else if (i == 1) f.result(60s);
        else f.exception();
      } catch (const pyconc::CancelledError&) {
        ++cancelled;
      }
    }));
  for (auto& w : waiters) ASSERT_TRUE(w->asleep());
  EXPECT_TRUE(f.cancel());
  for (auto& w : waiters) w->join();
  EXPECT_EQ(cancelled.load(), 3);
}

TEST(Future, ManyWaitersAllWake) {
  futures::Future<int> f;
  std::atomic<int> sum{0};
  std::vector<std::unique_ptr<Helper>> waiters;
  for (int i = 0; i < 4; ++i) waiters.push_back(std::make_unique<Helper>([&] { sum += f.result(); }));
  for (auto& w : waiters) ASSERT_TRUE(w->asleep());
  f.set_result(10);
  for (auto& w : waiters) w->join();
  EXPECT_EQ(sum.load(), 40);
}

TEST(Future, ResultPublishesTheFinishersWrites) {
  for (int round = 0; round < 50; ++round) {
    futures::Future<int> f;
    std::vector<int> data;  // plain memory: ThreadSanitizer checks the ordering
    std::thread producer([&] {
      data.assign(100, round);
      f.set_result(round);
    });
    EXPECT_EQ(f.result(), round);
    EXPECT_EQ(data.size(), 100u);
    EXPECT_EQ(data.back(), round);
    producer.join();
  }
  // done() observing true is enough, too.
  futures::Future<void> g;
  int plain = 0;
  std::thread producer([&] {
    plain = 42;
    g.set_result();
  });
  ASSERT_TRUE(eventually([&] { return g.done(); }));
  EXPECT_EQ(plain, 42);
  producer.join();
}

// ----------------------------------------------------------------------- the types

TEST(Future, FutureOfVoid) {
  futures::Future<void> f;
  static_assert(std::is_void_v<decltype(f.result())>);
  EXPECT_FALSE(f.done());
  EXPECT_THROW(f.result(10ms), pyconc::TimeoutError);
  EXPECT_TRUE(f.set_running_or_notify_cancel());
  f.set_result();
  EXPECT_TRUE(f.done());
  f.result();
  f.result(0s);
  EXPECT_EQ(f.exception(), nullptr);

  futures::Future<void> bad;
  bad.set_exception(std::make_exception_ptr(pyconc::ValueError("void failed")));
  EXPECT_THROW(bad.result(), pyconc::ValueError);

  futures::Future<void> cancelled;
  EXPECT_TRUE(cancelled.cancel());
  EXPECT_THROW(cancelled.result(), pyconc::CancelledError);
  int calls = 0;
  cancelled.add_done_callback([&](futures::Future<void>) { ++calls; });
  EXPECT_EQ(calls, 1);
}

TEST(Future, MoveOnlyResult) {
  futures::Future<std::unique_ptr<int>> f;
  static_assert(std::is_same_v<decltype(f.result()), const std::unique_ptr<int>&>);
  static_assert(std::is_same_v<decltype(f.result(1s)), const std::unique_ptr<int>&>);
  f.set_result(std::make_unique<int>(5));
  const std::unique_ptr<int>& a = f.result();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(*a, 5);
  // Every call, on every copy, refers to the same stored value.
  futures::Future<std::unique_ptr<int>> copy = f;
  EXPECT_EQ(&copy.result(), &a);
  EXPECT_EQ(f.result().get(), a.get());
}

TEST(Future, ResultReferenceOutlivesTheOriginalHandle) {
  auto f = std::make_unique<futures::Future<std::string>>();
  futures::Future<std::string> keep = *f;
  f->set_result(std::string(100, 'x'));
  const std::string& ref = f->result();
  f.reset();
  EXPECT_EQ(ref, std::string(100, 'x')) << "valid while any handle exists";
}

TEST(Future, CopiesAreTheSameFuture) {
  futures::Future<int> a;
  futures::Future<int> b = a;
  futures::Future<int> c;
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a == c);
  EXPECT_TRUE(a != c);
  c = a;
  EXPECT_TRUE(a == c);
  b.set_result(3);
  EXPECT_TRUE(a.done());
  EXPECT_EQ(a.result(), 3);
  EXPECT_EQ(c.result(), 3);
  futures::Future<int> moved = std::move(b);
  EXPECT_TRUE(moved == a);
}

// ------------------------------------------------------------------ races
//
// Running and finishing take no lock: callbacks added while another thread finishes the
// future must still run exactly once, and cancel racing a setter must leave one winner.

TEST(Future, CancelRacingSetResultOnAPendingFutureHasOneWinner) {
  for (int round = 0; round < 1000; ++round) {
    futures::Future<int> f;
    std::atomic<bool> go{false};
    std::atomic<int> set_won{-1};
    std::thread setter([&] {
      while (!go.load()) {
      }
      try {
        f.set_result(1);
        set_won = 1;
      } catch (const pyconc::InvalidStateError&) {
        set_won = 0;
      }
    });
    go = true;
    bool cancelled = f.cancel();
    setter.join();
    ASSERT_NE(cancelled, set_won.load() == 1) << "round " << round;
    EXPECT_TRUE(f.done());
    if (cancelled) {
      EXPECT_THROW(f.result(), pyconc::CancelledError);
    } else {
      EXPECT_EQ(f.result(), 1);
    }
  }
}

TEST(Future, ResultWaitersRacingTheFinisherAllWake) {
  for (int round = 0; round < 300; ++round) {
    futures::Future<int> f;
    std::atomic<int> woke{0};
    std::vector<std::thread> waiters;
    for (int i = 0; i < 3; ++i)
      waiters.emplace_back([&] {
        if (f.result() == 5) woke.fetch_add(1);
      });
    f.set_running_or_notify_cancel();
    f.set_result(5);
    for (auto& t : waiters) t.join();
    ASSERT_EQ(woke.load(), 3);
  }
}
