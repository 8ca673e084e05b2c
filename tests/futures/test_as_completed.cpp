// Tests for futures::as_completed (Python's concurrent.futures.as_completed): order,
// timeouts, duplicates, waking on completion, and the lifetime of a range left early.
#include "wait_support.hpp"

using namespace wait_test;

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
