// Tests for futures::wait and futures::as_completed (Python's concurrent.futures.wait
// and as_completed): return_when modes, timeouts, duplicates, order, waking on
// completion, and the lifetime of an as_completed range left early.
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
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
using Fut = futures::Future<int>;
using Futs = std::vector<Fut>;

namespace {

/// Runs a blocking call in its own thread and keeps what it returned and when.
template <class R>
class InThread {
 public:
  explicit InThread(std::function<R()> call)
      : thread_([this, call = std::move(call)] {
          tid_ = threading::get_native_id();
          R r = call();
          returned_at_ = Clock::now();
          result_ = std::move(r);
          returned_ = true;
        }) {}
  ~InThread() { join(); }
  InThread(const InThread&) = delete;
  InThread& operator=(const InThread&) = delete;

  /// Waits until the thread sleeps in a futex, i.e. blocked in the call.
  bool asleep() const {
    return eventually([&] { return tid_.load() != 0 && asleep_in_futex(tid_.load()); }, kPrompt * 1s);
  }
  bool returned() const { return returned_.load(); }
  /// Joins; then the result and the time it came back.
  R& result() {
    join();
    return *result_;
  }
  Clock::time_point returned_at() {
    join();
    return returned_at_;
  }

 private:
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  std::atomic<long> tid_{0};
  std::atomic<bool> returned_{false};
  Clock::time_point returned_at_;
  std::optional<R> result_;
  std::thread thread_;
};

Fut finished(int value) {
  Fut f;
  f.set_result(value);
  return f;
}

Fut failed(const std::string& why) {
  Fut f;
  f.set_exception(std::make_exception_ptr(pyconc::ValueError(why)));
  return f;
}

/// A future cancelled and noticed by its (imaginary) executor: done for wait().
Fut cancelled_and_notified() {
  Fut f;
  f.cancel();
  f.set_running_or_notify_cancel();
  return f;
}

Futs pending(int n) { return Futs(static_cast<std::size_t>(n)); }

/// Pretty-printable identity check of two lists of futures.
::testing::AssertionResult same(const Futs& got, const Futs& want) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << ", want " << want.size();
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!(got[i] == want[i])) return ::testing::AssertionFailure() << "differs at " << i;
  return ::testing::AssertionSuccess();
}

using Waited = futures::DoneAndNotDone<int>;

/// Sets every event when destroyed, so that blocked tasks end even if a test fails.
class SetOnExit {
 public:
  explicit SetOnExit(std::vector<std::shared_ptr<threading::Event>>& events) : events_(events) {}
  SetOnExit(const SetOnExit&) = delete;
  SetOnExit& operator=(const SetOnExit&) = delete;
  ~SetOnExit() {
    for (auto& e : events_) e->set();
  }

 private:
  std::vector<std::shared_ptr<threading::Event>>& events_;
};

}  // namespace

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

// ------------------------------------------------------------------- as_completed()

TEST(Wait, TakesAnyRangeOfFutures) {
  // Python's wait() takes any iterable of futures: a set, a list, a dict's keys.
  Fut a, b, c;
  b.set_result(2);
  std::unordered_set<Fut> set{a, b, c};
  Waited r = futures::wait(set, 0s);
  ASSERT_EQ(r.done.size(), 1u);
  EXPECT_TRUE(r.done[0] == b);
  EXPECT_EQ(r.not_done.size(), 2u);
  std::list<Fut> list{a, b, c, b};
  r = futures::wait(list, futures::FIRST_COMPLETED);  // b is done: returns at once
  EXPECT_TRUE(same(r.done, {b}));
  EXPECT_TRUE(same(r.not_done, {a, c})) << "in the order of the input, repeats left out";
  const Futs fixed{a, b};
  r = futures::wait(fixed, 0s);
  EXPECT_TRUE(same(r.not_done, {a}));
  std::map<int, int> not_futures;
  static_assert(!futures::FutureRange<decltype(not_futures)>);
  static_assert(!futures::FutureRange<std::vector<int>>);
}

TEST(Wait, AMapStandsForItsKeys) {
  // Python: wait(future_to_url) waits on the dict's keys.
  Fut a, c;
  std::unordered_map<Fut, int> future_to_n{{a, 1}, {c, 3}};
  c.set_result(3);
  Waited r = futures::wait(future_to_n, 0s, futures::FIRST_COMPLETED);
  EXPECT_TRUE(same(r.done, {c}));
  EXPECT_TRUE(same(r.not_done, {a}));
  EXPECT_EQ(future_to_n.at(r.done[0]), 3);
}

TEST(AsCompleted, TakesTheKeysOfAMap) {
  // Python: for future in as_completed(future_to_url): url = future_to_url[future]
  futures::ThreadPoolExecutor ex(2);
  std::unordered_map<Fut, std::string> future_to_name;
  for (int i = 0; i < 5; ++i) future_to_name.emplace(ex.submit([i] { return i; }), "task " + std::to_string(i));
  std::set<std::string> names;
  for (Fut f : futures::as_completed(future_to_name, 60s)) {
    EXPECT_EQ(future_to_name.at(f), "task " + std::to_string(f.result()));
    names.insert(future_to_name.at(f));
  }
  EXPECT_EQ(names.size(), 5u);
}

TEST(AsCompleted, AlreadyDoneFirstThenInCompletionOrder) {
  futures::ThreadPoolExecutor ex(4);
  std::vector<std::shared_ptr<threading::Event>> gates;
  SetOnExit open(gates);
  Fut pre0 = ex.submit([] { return 100; }), pre1 = ex.submit([] { return 101; });
  pre0.result();
  pre1.result();
  Futs blocked;
  for (int i = 0; i < 4; ++i) {
    gates.push_back(std::make_shared<threading::Event>());
    blocked.push_back(ex.submit([gate = gates.back(), i] {
      gate->wait();
      return i;
    }));
  }
  Futs fs{blocked[0], pre0, blocked[1], blocked[2], pre1, blocked[3]};

  // Release one task at a time, each after the previous one came out: the order is fixed.
  const std::vector<int> release_order{2, 0, 3, 1};
  std::size_t released = 0;
  Futs yielded;
  for (Fut f : futures::as_completed(fs, 60s)) {
    yielded.push_back(f);
    if (yielded.size() >= 2 && released < release_order.size()) gates[release_order[released++]]->set();
  }
  ASSERT_EQ(yielded.size(), 6u);
  EXPECT_EQ((std::set<int>{yielded[0].result(), yielded[1].result()}), (std::set<int>{100, 101}))
      << "the futures done beforehand come first";
  EXPECT_TRUE(same({yielded.begin() + 2, yielded.end()}, {blocked[2], blocked[0], blocked[3], blocked[1]}));
}

TEST(AsCompleted, YieldsFailedAndCancelledFuturesWithoutRaising) {
  Fut bad = failed("no"), gone = cancelled_and_notified(), later;
  Futs fs{later, bad, gone};
  Futs yielded;
  for (Fut f : futures::as_completed(fs)) {
    yielded.push_back(f);
    if (yielded.size() == 2) later.set_result(1);  // completes while we iterate
  }
  ASSERT_EQ(yielded.size(), 3u);
  EXPECT_TRUE(same({yielded.begin(), yielded.begin() + 2}, {bad, gone}) ||
              same({yielded.begin(), yielded.begin() + 2}, {gone, bad}));
  EXPECT_TRUE(yielded[2] == later);
  EXPECT_THROW(yielded[0].result(), pyconc::Error);
}

TEST(AsCompleted, YieldsEveryFutureExactlyOnce) {
  constexpr int kN = 200, kThreads = 4;
  Futs fs = pending(kN);
  Futs input = fs;
  input.insert(input.end(), fs.begin(), fs.begin() + 20);  // duplicates are yielded once
  std::vector<std::thread> finishers;
  for (int t = 0; t < kThreads; ++t)
    finishers.emplace_back([&, t] {
      std::vector<int> mine;
      for (int i = t; i < kN; i += kThreads) mine.push_back(i);
      std::shuffle(mine.begin(), mine.end(), std::mt19937(t));
      for (int i : mine) {
        if (i % 10 == 0) {
          fs[i].cancel();
          fs[i].set_running_or_notify_cancel();
        } else {
          fs[i].set_result(i);
        }
      }
    });
  std::set<int> seen;
  int count = 0;
  for (Fut f : futures::as_completed(input, 60s)) {
    ++count;
    auto it = std::find(fs.begin(), fs.end(), f);
    ASSERT_NE(it, fs.end());
    EXPECT_TRUE(seen.insert(static_cast<int>(it - fs.begin())).second);
    EXPECT_TRUE(f.done());
  }
  for (auto& t : finishers) t.join();
  EXPECT_EQ(count, kN);
}

TEST(AsCompleted, TimeoutRaisesWithTheCountOfUnfinished) {
  Fut done = finished(1);
  Futs fs{Fut(), done, Fut()};
  auto start = Clock::now();
  auto range = futures::as_completed(fs, 150ms);
  Futs yielded;
  try {
    for (Fut f : range) yielded.push_back(f);
    ADD_FAILURE() << "no TimeoutError";
  } catch (const pyconc::TimeoutError& e) {
    EXPECT_STREQ(e.what(), "2 (of 3) futures unfinished");
  }
  double waited = seconds_since(start);
  EXPECT_GE(waited, 0.14);
  EXPECT_LT(waited, kPrompt);
  EXPECT_TRUE(same(yielded, {done}));
}

TEST(AsCompleted, TimeoutCountsFromTheCall) {
  Futs fs{finished(1), Fut(), Fut(), Fut()};
  auto range = futures::as_completed(fs, 30ms);
  std::this_thread::sleep_for(40ms);
  auto start = Clock::now();
  auto it = range.begin();
  ASSERT_TRUE(*it == fs[0]);
  try {
    ++it;
    ADD_FAILURE() << "no TimeoutError";
  } catch (const pyconc::TimeoutError& e) {
    EXPECT_STREQ(e.what(), "3 (of 4) futures unfinished");
  }
  EXPECT_LT(seconds_since(start), kPrompt);
}

TEST(AsCompleted, BareCancelIsUnfinished) {
  // As wait(): a cancelled future nobody has noticed yet is not yielded.
  Fut f;
  f.cancel();
  EXPECT_THROW(
      {
        for (Fut g : futures::as_completed(Futs{f}, 20ms)) (void)g;
      },
      pyconc::TimeoutError);
}

TEST(AsCompleted, WakesPromptlyOnCompletion) {
  Futs fs = pending(3);
  struct Got {
    Futs order;
    std::vector<Clock::time_point> at;
  };
  InThread<Got> iterating([&] {
    Got got;
    for (Fut f : futures::as_completed(fs, 60s)) {
      got.order.push_back(f);
      got.at.push_back(Clock::now());
    }
    return got;
  });
  std::vector<Clock::time_point> completed;
  for (int i : {1, 2, 0}) {
    ASSERT_TRUE(iterating.asleep());
    completed.push_back(Clock::now());
    fs[i].set_result(i);
  }
  Got& got = iterating.result();
  EXPECT_TRUE(same(got.order, {fs[1], fs[2], fs[0]}));
  ASSERT_EQ(got.at.size(), 3u);
  for (int k = 0; k < 3; ++k)
    EXPECT_LT(std::chrono::duration<double>(got.at[k] - completed[k]).count(), kPrompt);
}

TEST(AsCompleted, LeavingEarlyIsSafe) {
  // Run under AddressSanitizer: a destroyed range must leave nothing behind in the
  // futures that complete later.
  Futs fs = pending(4);
  {
    auto range = futures::as_completed(fs);
    fs[2].set_result(2);
    for (Fut f : range) {
      EXPECT_TRUE(f == fs[2]);
      break;
    }
  }
  std::thread finisher([&] {
    for (int i : {0, 1, 3}) fs[i].set_result(i);
  });
  finisher.join();
  Waited r = futures::wait(fs, 0s);
  EXPECT_EQ(r.done.size(), 4u);

  // A range never iterated, and one that timed out.
  Futs more = pending(2);
  { auto unused = futures::as_completed(more); }
  {
    auto timed = futures::as_completed(more, 10ms);
    EXPECT_THROW(timed.begin(), pyconc::TimeoutError);
  }
  more[0].set_result(0);
  more[1].cancel();
  more[1].set_running_or_notify_cancel();
  EXPECT_EQ(futures::wait(more, 0s).done.size(), 2u);
}

TEST(AsCompleted, LeavingEarlyWhileExecutorTasksFinish) {
  futures::ThreadPoolExecutor ex(4);
  for (int round = 0; round < 20; ++round) {
    threading::Event go;
    Futs fs;
    for (int i = 0; i < 8; ++i)
      fs.push_back(ex.submit([&go, i] {
        go.wait();
        return i;
      }));
    {
      auto range = futures::as_completed(fs, 60s);
      go.set();  // completions race with the destruction of the range
      for (Fut f : range) {
        (void)f;
        break;
      }
    }
    futures::wait(fs);
  }
}

TEST(AsCompleted, EmptyInput) {
  int n = 0;
  for (Fut f : futures::as_completed(Futs{})) {
    (void)f;
    ++n;
  }
  for (Fut f : futures::as_completed(Futs{}, 0s)) {
    (void)f;
    ++n;
  }
  EXPECT_EQ(n, 0);
}

TEST(Wait, FuturesFromSeveralThreadsInAnyOrderWithRepeats) {
  // Futures made on several threads, listed shuffled and with repeats: no creation
  // order to lean on, so repeats are found the slow way; the result is still a set.
  Futs made;
  std::mutex m;
  std::vector<std::thread> makers;
  for (int t = 0; t < 4; ++t)
    makers.emplace_back([&] {
      Futs mine;
      for (int i = 0; i < 200; ++i) mine.push_back(finished(i));
      std::scoped_lock with(m);
      made.insert(made.end(), mine.begin(), mine.end());
    });
  for (auto& t : makers) t.join();
  Fut late;
  Futs fs = made;
  fs.insert(fs.end(), made.begin(), made.begin() + 100);  // repeats
  fs.push_back(late);
  fs.push_back(late);
  std::mt19937 rng(7);
  std::shuffle(fs.begin(), fs.end(), rng);
  Waited r = futures::wait(fs, 0s);
  EXPECT_EQ(r.done.size(), made.size());
  EXPECT_TRUE(same(r.not_done, {late}));
  late.set_result(0);
  r = futures::wait(fs);
  EXPECT_EQ(r.done.size(), made.size() + 1);
  EXPECT_TRUE(r.not_done.empty());
  std::set<const void*> distinct;
  for (auto& f : r.done) distinct.insert(&pyconc::futures::detail::FutureAccess::core(f));
  EXPECT_EQ(distinct.size(), r.done.size());
}
