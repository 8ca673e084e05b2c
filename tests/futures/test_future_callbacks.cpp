// Tests for futures::Future's done callbacks (Python's add_done_callback): when and
// where they run, their order, exceptions escaping them, and the future's lifetime.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <pyconc/errors.hpp>
#include <pyconc/futures.hpp>
#include <pyconc/threading.hpp>

namespace futures = pyconc::futures;
namespace threading = pyconc::threading;

namespace {

template <class T>
futures::Future<T> finished(T value) {
  futures::Future<T> f;
  f.set_result(std::move(value));
  return f;
}

}  // namespace

// ------------------------------------------------------------------ done callbacks

TEST(Future, CallbackRunsOnceInTheFinishingThread) {
  futures::Future<int> f;
  std::atomic<int> calls{0};
  std::atomic<unsigned long> ran_in{0};
  f.add_done_callback([&](futures::Future<int> done) {
    ++calls;
    ran_in = threading::get_ident();
    EXPECT_TRUE(done.done());
    EXPECT_EQ(done.result(), 4);
  });
  EXPECT_EQ(calls.load(), 0);
  f.set_running_or_notify_cancel();
  EXPECT_EQ(calls.load(), 0) << "running is not done";

  std::atomic<unsigned long> finisher{0};
  std::thread t([&] {
    finisher = threading::get_ident();
    f.set_result(4);
    EXPECT_EQ(calls.load(), 1) << "called before set_result returns";
  });
  t.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(ran_in.load(), finisher.load());
  EXPECT_FALSE(f.cancel());
  EXPECT_EQ(calls.load(), 1);
}

TEST(Future, CallbackRunsAtOnceWhenAlreadyDone) {
  auto f = finished(6);
  int calls = 0;
  unsigned long ran_in = 0;
  f.add_done_callback([&](const futures::Future<int>& done) {
    ++calls;
    ran_in = threading::get_ident();
    EXPECT_EQ(done.result(), 6);
  });
  EXPECT_EQ(calls, 1) << "before add_done_callback returns";
  EXPECT_EQ(ran_in, threading::get_ident());
}

TEST(Future, CallbackReceivesTheFuture) {
  futures::Future<int> f;
  std::vector<futures::Future<int>> got;
  f.add_done_callback([&](futures::Future<int> done) { got.push_back(done); });
  f.set_result(1);
  f.add_done_callback([&](futures::Future<int> done) { got.push_back(done); });
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0] == f);
  EXPECT_TRUE(got[1] == f);
}

TEST(Future, CallbacksRunInOrderOfRegistration) {
  futures::Future<int> f;
  std::vector<int> order;
  for (int i = 0; i < 5; ++i) f.add_done_callback([&order, i](futures::Future<int>) { order.push_back(i); });
  f.set_exception(std::make_exception_ptr(pyconc::ValueError("v")));
  EXPECT_EQ(order, (std::vector{0, 1, 2, 3, 4}));
}

TEST(Future, CallbackRunsOnCancel) {
  futures::Future<int> f;
  int calls = 0;
  f.add_done_callback([&](futures::Future<int> done) {
    ++calls;
    EXPECT_TRUE(done.cancelled());
  });
  EXPECT_TRUE(f.cancel());
  EXPECT_EQ(calls, 1) << "cancel() calls the callbacks";
  EXPECT_TRUE(f.cancel());
  f.set_running_or_notify_cancel();
  EXPECT_EQ(calls, 1) << "neither a second cancel nor the notification calls them again";

  int late = 0;
  f.add_done_callback([&](futures::Future<int>) { ++late; });
  EXPECT_EQ(late, 1);
}

TEST(Future, ThrowingCallbackIsReportedAndOthersStillRun) {
  futures::Future<int> f;
  int before = 0, after = 0;
  f.add_done_callback([&](futures::Future<int>) { ++before; });
  f.add_done_callback([](futures::Future<int>) { throw pyconc::ValueError("callback exploded"); });
  f.add_done_callback([&](futures::Future<int>) { ++after; });
  testing::internal::CaptureStderr();
  EXPECT_NO_THROW(f.set_result(1));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(before, 1);
  EXPECT_EQ(after, 1);
  EXPECT_NE(err.find("callback exploded"), std::string::npos) << err;
  EXPECT_NE(err.find("ValueError"), std::string::npos) << err;
  EXPECT_EQ(f.result(), 1);

  // Also when the future is done already.
  testing::internal::CaptureStderr();
  EXPECT_NO_THROW(f.add_done_callback([](futures::Future<int>) { throw std::runtime_error("late one"); }));
  err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("late one"), std::string::npos) << err;
}

TEST(Future, CallbackMayUseTheFuture) {
  // No lock is held while callbacks run: they may call anything on the future.
  futures::Future<int> f;
  int nested = 0;
  int seen = 0;
  f.add_done_callback([&](futures::Future<int> done) {
    seen = done.result();
    EXPECT_FALSE(done.cancel());
    EXPECT_EQ(done.exception(), nullptr);
    done.add_done_callback([&](futures::Future<int>) { ++nested; });
    EXPECT_THROW(done.set_result(0), pyconc::InvalidStateError);
  });
  f.set_result(12);
  EXPECT_EQ(seen, 12);
  EXPECT_EQ(nested, 1);
}

TEST(Future, CallbackMayDropTheLastOtherHandle) {
  auto holder = std::make_unique<futures::Future<int>>();
  futures::Future<int>& f = *holder;
  int calls = 0;
  f.add_done_callback([&](futures::Future<int> done) {
    ++calls;
    EXPECT_EQ(done.result(), 2);
  });
  futures::Future<int> finisher = f;
  holder.reset();
  finisher.set_result(2);
  EXPECT_EQ(calls, 1);
}

TEST(Future, ACallbackHoldsNoReferenceToItsFuture) {
  // The state owns its callbacks: a future dropped before it is done frees both.
  auto token = std::make_shared<int>(0);
  {
    futures::Future<int> f;
    f.add_done_callback([token](futures::Future<int>) {});
    EXPECT_EQ(token.use_count(), 2);
  }
  EXPECT_EQ(token.use_count(), 1) << "the state and its callback are freed with the last handle";
}

TEST(Future, TheCallbacksHandleMayOutliveAllOthers) {
  std::vector<futures::Future<int>> kept;
  {
    futures::Future<int> f;
    f.add_done_callback([&](futures::Future<int> done) { kept.push_back(done); });
    f.set_result(5);
  }
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].result(), 5);
}

TEST(Future, AssignmentToItselfAndMovesKeepTheFuture) {
  futures::Future<int> a;
  futures::Future<int>& alias = a;
  a = alias;
  a = std::move(alias);
  a.set_result(4);
  EXPECT_EQ(a.result(), 4);
  futures::Future<int> b;
  futures::Future<int> c = b;
  b = a;  // c keeps the old future alive alone
  EXPECT_TRUE(b == a);
  EXPECT_FALSE(c.done());
  c = std::move(b);
  EXPECT_TRUE(c == a);
  EXPECT_EQ(c.result(), 4);
}

// ------------------------------------------------------------------ races

TEST(Future, CallbackAddedWhileAnotherThreadFinishesRunsExactlyOnce) {
  for (int round = 0; round < 2000; ++round) {
    futures::Future<int> f;
    std::atomic<int> calls{0};
    std::atomic<bool> go{false};
    std::thread finisher([&] {
      while (!go.load()) {
      }
      f.set_running_or_notify_cancel();
      f.set_result(round);
    });
    go = true;
    f.add_done_callback([&](futures::Future<int> done) {
      EXPECT_EQ(done.result(), round);
      calls.fetch_add(1);
    });
    finisher.join();
    ASSERT_EQ(calls.load(), 1) << "round " << round;
  }
}
