// Tests for futures::wait (Python's concurrent.futures.wait): return_when modes,
// timeouts, duplicates, order and waking on completion (as_completed():
// test_as_completed.cpp).
#include "wait_support.hpp"

using namespace wait_test;

// -------------------------------------------------------------------------- wait()

TEST(Wait, AllCompletedIsTheDefault) {
  Futs fs = pending(3);
  InThread<Waited> waiter([&] { return futures::wait(fs); });
  ASSERT_TRUE(waiter.asleep());
  fs[2].set_result(2);
  fs[1].set_exception(std::make_exception_ptr(pyconc::ValueError("one")));
  std::this_thread::sleep_for(30ms);  // negative check
  EXPECT_FALSE(waiter.returned()) << "one is still pending";
  auto last = Clock::now();
  fs[0].set_result(0);
  Waited& r = waiter.result();
  EXPECT_LT(std::chrono::duration<double>(waiter.returned_at() - last).count(), kPrompt);
  EXPECT_TRUE(same(r.done, fs)) << "all done, in input order";
  EXPECT_TRUE(r.not_done.empty());

  // The explicit constant and a timeout give the same.
  Waited again = futures::wait(fs, 1s, futures::ALL_COMPLETED);
  EXPECT_TRUE(same(again.done, fs));
}

TEST(Wait, FirstCompletedReturnsPromptlyOnTheFirstCompletion) {
  Futs fs = pending(4);
  InThread<Waited> waiter([&] { return futures::wait(fs, 60s, futures::FIRST_COMPLETED); });
  ASSERT_TRUE(waiter.asleep());
  auto completed = Clock::now();
  fs[2].set_result(7);
  Waited& r = waiter.result();
  EXPECT_LT(std::chrono::duration<double>(waiter.returned_at() - completed).count(), kPrompt);
  EXPECT_TRUE(same(r.done, {fs[2]}));
  EXPECT_TRUE(same(r.not_done, {fs[0], fs[1], fs[3]}));
}

TEST(Wait, FirstCompletedWithoutTimeout) {
  Futs fs = pending(2);
  InThread<Waited> waiter([&] { return futures::wait(fs, futures::FIRST_COMPLETED); });
  ASSERT_TRUE(waiter.asleep());
  fs[1].set_exception(std::make_exception_ptr(pyconc::ValueError("a failure completes too")));
  Waited& r = waiter.result();
  EXPECT_TRUE(same(r.done, {fs[1]}));
  EXPECT_TRUE(same(r.not_done, {fs[0]}));
}

TEST(Wait, FirstCompletedWakesOnANotifiedCancellation) {
  Futs fs = pending(2);
  InThread<Waited> waiter([&] { return futures::wait(fs, 60s, futures::FIRST_COMPLETED); });
  ASSERT_TRUE(waiter.asleep());
  fs[0].cancel();
  fs[0].set_running_or_notify_cancel();  // the executor notices
  Waited& r = waiter.result();
  EXPECT_TRUE(same(r.done, {fs[0]}));
  EXPECT_TRUE(same(r.not_done, {fs[1]}));
}

TEST(Wait, CancelledCountsAsDoneOnlyOnceNotified) {
  // As Python: wait() counts CANCELLED_AND_NOTIFIED, not a bare cancel(); the executor's
  // set_running_or_notify_cancel() makes it count.
  Fut f;
  f.cancel();
  Waited r = futures::wait(Futs{f}, 0s);
  EXPECT_TRUE(r.done.empty());
  EXPECT_TRUE(same(r.not_done, {f}));
  r = futures::wait(Futs{f}, 0s, futures::FIRST_COMPLETED);
  EXPECT_TRUE(same(r.not_done, {f}));
  f.set_running_or_notify_cancel();
  r = futures::wait(Futs{f}, 0s);
  EXPECT_TRUE(same(r.done, {f}));
}

TEST(Wait, FirstExceptionStopsAtTheFirstFailure) {
  Futs fs = pending(4);
  Fut already = finished(1);
  Futs all{already, fs[0], fs[1], fs[2], fs[3]};
  InThread<Waited> waiter([&] { return futures::wait(all, 60s, futures::FIRST_EXCEPTION); });
  ASSERT_TRUE(waiter.asleep());
  fs[0].set_result(0);
  fs[1].cancel();
  fs[1].set_running_or_notify_cancel();
  std::this_thread::sleep_for(30ms);  // negative check
  EXPECT_FALSE(waiter.returned()) << "neither a result nor a cancellation stops FIRST_EXCEPTION";
  auto failure = Clock::now();
  fs[2].set_exception(std::make_exception_ptr(pyconc::ValueError("boom")));
  Waited& r = waiter.result();
  EXPECT_LT(std::chrono::duration<double>(waiter.returned_at() - failure).count(), kPrompt);
  EXPECT_TRUE(same(r.done, {already, fs[0], fs[1], fs[2]}));
  EXPECT_TRUE(same(r.not_done, {fs[3]}));
}

TEST(Wait, FirstExceptionReturnsAtOnceWhenOneFailedAlready) {
  Fut bad = failed("early");
  Futs fs{finished(1), bad, Fut()};
  auto start = Clock::now();
  Waited r = futures::wait(fs, futures::FIRST_EXCEPTION);  // no timeout: must not block
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_TRUE(same(r.done, {fs[0], bad}));
  EXPECT_TRUE(same(r.not_done, {fs[2]}));
}

TEST(Wait, FirstExceptionWithoutFailuresWaitsForAll) {
  // Nothing fails: FIRST_EXCEPTION is ALL_COMPLETED.
  Futs fs = pending(2);
  InThread<Waited> waiter([&] { return futures::wait(fs, 60s, futures::FIRST_EXCEPTION); });
  ASSERT_TRUE(waiter.asleep());
  fs[0].set_result(0);
  std::this_thread::sleep_for(30ms);  // negative check
  EXPECT_FALSE(waiter.returned());
  auto last = Clock::now();
  fs[1].set_result(1);
  Waited& r = waiter.result();
  EXPECT_LT(std::chrono::duration<double>(waiter.returned_at() - last).count(), kPrompt);
  EXPECT_TRUE(same(r.done, fs));
  EXPECT_TRUE(r.not_done.empty());
}

TEST(Wait, FirstExceptionWithoutFailuresCountsFuturesDoneBeforehand) {
  // Some futures are done (without failure) before wait() is called, the rest complete
  // while it waits: it returns when the last one completes.
  Fut ok = finished(1);
  Fut gone = cancelled_and_notified();
  Futs fs{ok, Fut(), gone, Fut()};
  InThread<Waited> waiter([&] { return futures::wait(fs, 60s, futures::FIRST_EXCEPTION); });
  ASSERT_TRUE(waiter.asleep());
  fs[1].set_result(2);
  auto last = Clock::now();
  fs[3].set_result(3);
  Waited& r = waiter.result();
  EXPECT_LT(std::chrono::duration<double>(waiter.returned_at() - last).count(), kPrompt);
  EXPECT_TRUE(same(r.done, fs));
  EXPECT_TRUE(r.not_done.empty());
}

TEST(Wait, AlreadyDoneFuturesReturnAtOnce) {
  Futs fs{finished(1), failed("f"), cancelled_and_notified()};
  for (auto mode : {futures::ALL_COMPLETED, futures::FIRST_COMPLETED, futures::FIRST_EXCEPTION}) {
    auto start = Clock::now();
    Waited r = futures::wait(fs, mode);  // no timeout: must not block
    EXPECT_LT(seconds_since(start), kPrompt);
    EXPECT_TRUE(same(r.done, fs));
    EXPECT_TRUE(r.not_done.empty());
  }
  // FIRST_COMPLETED with one done and others pending returns at once, too.
  Futs mixed{Fut(), finished(2), Fut()};
  Waited r = futures::wait(mixed, futures::FIRST_COMPLETED);
  EXPECT_TRUE(same(r.done, {mixed[1]}));
  EXPECT_TRUE(same(r.not_done, {mixed[0], mixed[2]}));
}

TEST(Wait, TimeoutReturnsWhatIsDone) {
  for (auto mode : {futures::ALL_COMPLETED, futures::FIRST_EXCEPTION}) {
    Futs fs{Fut(), finished(1), Fut()};
    auto start = Clock::now();
    Waited r = futures::wait(fs, 100ms, mode);
    double waited = seconds_since(start);
    EXPECT_GE(waited, 0.09);
    EXPECT_LT(waited, kPrompt);
    EXPECT_TRUE(same(r.done, {fs[1]}));
    EXPECT_TRUE(same(r.not_done, {fs[0], fs[2]}));
  }
  Futs none_done = pending(2);
  auto start = Clock::now();
  Waited r = futures::wait(none_done, 100ms, futures::FIRST_COMPLETED);
  EXPECT_GE(seconds_since(start), 0.09);
  EXPECT_TRUE(r.done.empty());
  EXPECT_TRUE(same(r.not_done, none_done));
}

TEST(Wait, ZeroOrNegativeTimeoutDoesNotWait) {
  Futs fs{Fut(), finished(1)};
  for (auto timeout : {pyconc::Seconds(0), pyconc::Seconds(-1)}) {
    for (auto mode : {futures::ALL_COMPLETED, futures::FIRST_EXCEPTION}) {
      auto start = Clock::now();
      Waited r = futures::wait(fs, timeout, mode);
      EXPECT_LT(seconds_since(start), kPrompt);
      EXPECT_TRUE(same(r.done, {fs[1]}));
      EXPECT_TRUE(same(r.not_done, {fs[0]}));
    }
  }
}

TEST(Wait, TimeoutWhileSomeCompleteDuringTheWait) {
  Futs fs = pending(3);
  InThread<Waited> waiter([&] { return futures::wait(fs, 300ms); });
  ASSERT_TRUE(waiter.asleep());
  fs[1].set_result(1);
  Waited& r = waiter.result();
  EXPECT_TRUE(same(r.done, {fs[1]}));
  EXPECT_TRUE(same(r.not_done, {fs[0], fs[2]}));
}

TEST(Wait, DuplicatesAppearOnce) {
  Fut a = finished(1), b = finished(2), c;
  Futs fs{a, b, a, c, a, c};
  Waited r = futures::wait(fs, 0s);
  EXPECT_TRUE(same(r.done, {a, b}));
  EXPECT_TRUE(same(r.not_done, {c}));
  c.set_result(3);
  r = futures::wait(fs);
  EXPECT_TRUE(same(r.done, {a, b, c}));
  r = futures::wait(Futs{c, c}, futures::FIRST_COMPLETED);
  EXPECT_TRUE(same(r.done, {c}));
}

TEST(Wait, DoneAndNotDoneKeepInputOrder) {
  Futs fs = pending(6);
  for (int i : {5, 3, 1}) fs[i].set_result(i);  // completion order differs from input order
  Waited r = futures::wait(fs, 0s);
  EXPECT_TRUE(same(r.done, {fs[1], fs[3], fs[5]}));
  EXPECT_TRUE(same(r.not_done, {fs[0], fs[2], fs[4]}));
  // Also for futures that complete during a FIRST_EXCEPTION wait.
  InThread<Waited> waiter([&] { return futures::wait(fs, 60s, futures::FIRST_EXCEPTION); });
  ASSERT_TRUE(waiter.asleep());
  fs[4].set_result(4);
  fs[2].set_exception(std::make_exception_ptr(pyconc::ValueError("x")));
  Waited& w = waiter.result();
  EXPECT_TRUE(same(w.done, {fs[1], fs[2], fs[3], fs[4], fs[5]}));
  EXPECT_TRUE(same(w.not_done, {fs[0]}));
}

TEST(Wait, EmptyInput) {
  for (auto mode : {futures::ALL_COMPLETED, futures::FIRST_COMPLETED, futures::FIRST_EXCEPTION}) {
    Waited r = futures::wait(Futs{}, mode);
    EXPECT_TRUE(r.done.empty());
    EXPECT_TRUE(r.not_done.empty());
  }
}

TEST(Wait, OnExecutorFutures) {
  futures::ThreadPoolExecutor ex(3);
  std::vector<std::shared_ptr<threading::Event>> gates;
  SetOnExit open(gates);
  Futs fs;
  for (int i = 0; i < 3; ++i) {
    gates.push_back(std::make_shared<threading::Event>());
    fs.push_back(ex.submit([gate = gates.back(), i] {
      gate->wait();
      return i;
    }));
  }
  gates[1]->set();
  Waited r = futures::wait(fs, 60s, futures::FIRST_COMPLETED);
  EXPECT_TRUE(same(r.done, {fs[1]}));
  EXPECT_TRUE(same(r.not_done, {fs[0], fs[2]}));
  gates[0]->set();
  gates[2]->set();
  r = futures::wait(fs);
  EXPECT_TRUE(same(r.done, fs));
}

TEST(Wait, FirstCompletedLoopOverManyTasks) {
  // Python's idiom: while not_done: done, not_done = wait(not_done, FIRST_COMPLETED).
  futures::ThreadPoolExecutor ex(4);
  Futs fs;
  for (int i = 0; i < 100; ++i) fs.push_back(ex.submit([i] { return i; }));
  Futs not_done = fs;
  std::set<int> seen;
  while (!not_done.empty()) {
    Waited r = futures::wait(not_done, 60s, futures::FIRST_COMPLETED);
    ASSERT_FALSE(r.done.empty());
    for (auto& f : r.done) EXPECT_TRUE(seen.insert(f.result()).second);
    not_done = std::move(r.not_done);
  }
  EXPECT_EQ(seen.size(), 100u);
}
