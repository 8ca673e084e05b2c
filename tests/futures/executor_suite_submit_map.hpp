// The Executor test suite's submit() and map() tests (see executor_suite.hpp).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <concepts>
#include <list>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <pyconc/errors.hpp>
#include <pyconc/futures.hpp>

#include "futures/executor_suite_support.hpp"

// ---------------------------------------------------------------------------- submit

TYPED_TEST_P(ExecutorSuite, SubmitReturnsFuturesWithTheResults) {
  namespace futures = pyconc::futures;
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  auto ex = TypeParam::make(2);

  futures::Future<int> f = ex->submit(square, 7);
  auto g = ex->submit(add, 2, 40);
  auto h = ex->submit(repeat, std::string("ab"), 3);
  auto v = ex->submit(do_nothing);
  static_assert(std::is_same_v<decltype(h), futures::Future<std::string>>);
  static_assert(std::is_same_v<decltype(v), futures::Future<void>>);

  EXPECT_EQ(f.result(), 49);
  EXPECT_EQ(g.result(), 42);
  EXPECT_EQ(h.result(), "ababab");
  v.result();
  for (auto* fut : {&f, &g}) {
    EXPECT_TRUE(fut->done());
    EXPECT_FALSE(fut->cancelled());
    EXPECT_FALSE(fut->running());
    EXPECT_EQ(fut->exception(), nullptr);
  }
  EXPECT_TRUE(v.done());
  EXPECT_EQ(v.exception(), nullptr);

  std::vector<futures::Future<int>> many;
  for (int i = 0; i < 100; ++i) many.push_back(ex->submit(square, i));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(many[i].result(), i * i) << i;
}

TYPED_TEST_P(ExecutorSuite, SubmitFromManyThreads) {
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  auto ex = TypeParam::make(3);
  constexpr int kThreads = 4, kEach = 50;
  std::vector<std::vector<pyconc::futures::Future<int>>> got(kThreads);
  std::vector<std::thread> submitters;
  for (int t = 0; t < kThreads; ++t)
    submitters.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) got[t].push_back(ex->submit(add, t * 1000, i));
    });
  for (auto& s : submitters) s.join();
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kEach; ++i) EXPECT_EQ(got[t][i].result(), t * 1000 + i);
}

TYPED_TEST_P(ExecutorSuite, ExceptionsKeepTheirType) {
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  auto ex = TypeParam::make(2);
  auto value_error = ex->submit(raise_value_error, 3);
  auto runtime_error = ex->submit(raise_runtime_error);
  auto custom = ex->submit(raise_custom, 42);

  try {
    value_error.result();
    ADD_FAILURE() << "no exception";
  } catch (const pyconc::ValueError& e) {
    EXPECT_STREQ(e.what(), "bad value 3");
  }
  EXPECT_TRUE(value_error.done());
  EXPECT_FALSE(value_error.cancelled());
  // exception() hands over the same exception, rethrowable with its type.
  std::exception_ptr error = value_error.exception();
  ASSERT_NE(error, nullptr);
  EXPECT_THROW(std::rethrow_exception(error), pyconc::ValueError);
  // Every result() call rethrows it again.
  EXPECT_THROW(value_error.result(), pyconc::ValueError);

  try {
    runtime_error.result();
    ADD_FAILURE() << "no exception";
  } catch (const pyconc::Error&) {
    ADD_FAILURE() << "a std::runtime_error came back as a pyconc error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "plain std failure");
  }

  try {
    custom.result();
    ADD_FAILURE() << "no exception";
  } catch (const CustomError& e) {
    EXPECT_EQ(e.code(), 42);
    EXPECT_STREQ(e.what(), "custom error 42");
  }
}

TYPED_TEST_P(ExecutorSuite, FailedCallDoesNotStopTheExecutor) {
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  auto ex = TypeParam::make(1);
  for (int i = 0; i < 5; ++i) {
    EXPECT_THROW(ex->submit(raise_value_error, i).result(), pyconc::ValueError);
    EXPECT_EQ(ex->submit(square, i).result(), i * i);
  }
}

TYPED_TEST_P(ExecutorSuite, CancelQueuedFuture) {
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  using Gate = typename TypeParam::Gate;
  auto ex = TypeParam::make(1);
  Gate started, release;
  OpenOnExit<Gate> open({release});

  auto running = ex->submit(block<Gate>, started, release, 5);
  ASSERT_TRUE(started.wait(kLong));
  std::vector<pyconc::futures::Future<int>> fillers;
  for (int i = 0; i < prefetch<TypeParam>(); ++i) fillers.push_back(ex->submit(square, i));
  auto queued = ex->submit(square, 3);

  EXPECT_FALSE(running.cancel()) << "a running call cannot be cancelled";
  EXPECT_TRUE(queued.cancel());
  EXPECT_TRUE(queued.cancelled());
  EXPECT_TRUE(queued.done());
  EXPECT_THROW(queued.result(), pyconc::CancelledError);

  release.set();
  EXPECT_EQ(running.result(), 5);
  EXPECT_FALSE(running.cancelled());
  // The executor notices the cancellation: wait() counts the future as done.
  auto [done, not_done] = pyconc::futures::wait(std::vector{queued}, kLong);
  EXPECT_EQ(done.size(), 1u);
  EXPECT_TRUE(not_done.empty());
}

// ------------------------------------------------------------------------------- map

TYPED_TEST_P(ExecutorSuite, MapReturnsResultsInInputOrder) {
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  auto ex = TypeParam::make(3);
  std::vector<int> inputs;
  for (int i = 0; i < 30; ++i) inputs.push_back(i);
  auto results = ex->map(square, inputs);
  EXPECT_EQ(results.size(), inputs.size());
  std::vector<int> got;
  for (int r : results) got.push_back(r);
  ASSERT_EQ(got.size(), inputs.size());
  for (int i = 0; i < 30; ++i) EXPECT_EQ(got[i], i * i);

  // Later inputs finishing first do not change the order.
  std::vector<int> delays{40, 30, 20, 10, 0};
  std::vector<int> values{0, 1, 2, 3, 4};
  EXPECT_EQ(ex->map(sleep_then, delays, values).to_vector(), values);
}

TYPED_TEST_P(ExecutorSuite, MapIsConsumedLazily) {
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  using Gate = typename TypeParam::Gate;
  auto ex = TypeParam::make(2);
  std::vector<Gate> gates(3);
  OpenOnExit<Gate> open(gates);

  gates[0].set();
  auto results = ex->map(wait_then<Gate>, gates, std::vector{10, 11, 12});
  auto it = results.begin();
  ASSERT_FALSE(it == results.end());
  EXPECT_EQ(*it, 10) << "the first result is available while the others still run";
  ++it;
  gates[1].set();
  EXPECT_EQ(*it, 11);
  ++it;
  gates[2].set();
  EXPECT_EQ(*it, 12);
  ++it;
  EXPECT_TRUE(it == results.end());
}

TYPED_TEST_P(ExecutorSuite, MapFailureRethrowsAtItsPosition) {
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  auto ex = TypeParam::make(2);
  auto results = ex->map(square_or_raise, std::vector{1, 2, -3, 4, 5});
  auto it = results.begin();
  EXPECT_EQ(*it, 1);
  ++it;
  EXPECT_EQ(*it, 4);
  ++it;
  try {
    (void)*it;
    ADD_FAILURE() << "element 2 should raise";
  } catch (const pyconc::ValueError& e) {
    EXPECT_STREQ(e.what(), "negative: -3");
  }
  ++it;  // the later elements are still there
  EXPECT_EQ(*it, 16);
  ++it;
  EXPECT_EQ(*it, 25);
  ++it;
  EXPECT_TRUE(it == results.end());

  // In a range-for, the exception leaves the loop at that position.
  std::vector<int> seen;
  EXPECT_THROW(
      {
        for (int r : ex->map(square_or_raise, std::vector{1, 2, -3, 4})) seen.push_back(r);
      },
      pyconc::ValueError);
  EXPECT_EQ(seen, (std::vector{1, 4}));
}

TYPED_TEST_P(ExecutorSuite, MapZipsToTheShortestRange) {
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  auto ex = TypeParam::make(2);
  std::vector<int> a{1, 2, 3, 4};
  std::list<int> b{10, 20};
  auto two = ex->map(add, a, b);
  EXPECT_EQ(two.size(), 2u);
  EXPECT_EQ(two.to_vector(), (std::vector{11, 22}));

  std::array<int, 3> c{100, 200, 300};
  EXPECT_EQ(ex->map(add3, a, c, std::vector{1000, 2000, 3000, 4000, 5000}).to_vector(),
            (std::vector{1101, 2202, 3303}));

  auto none = ex->map(add, a, std::vector<int>{});
  EXPECT_EQ(none.size(), 0u);
  EXPECT_TRUE(none.begin() == none.end());
}

TYPED_TEST_P(ExecutorSuite, MapOfVoidCalls) {
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  using Gate = typename TypeParam::Gate;
  auto ex = TypeParam::make(2);
  std::vector<Gate> ran(4);
  auto results = ex->map(mark<Gate>, ran).to_vector();
  EXPECT_EQ(results.size(), 4u);
  for (const Gate& g : ran) EXPECT_TRUE(g.is_set());
}

TYPED_TEST_P(ExecutorSuite, MapTimeout) {
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  using Gate = typename TypeParam::Gate;
  auto ex = TypeParam::make(2);
  std::vector<Gate> gates(2);
  OpenOnExit<Gate> open(gates);
  gates[0].set();

  auto start = Clock::now();
  auto results = ex->map(wait_then<Gate>, {.timeout = 200ms}, gates, std::vector{1, 2});
  auto it = results.begin();
  EXPECT_EQ(*it, 1);
  ++it;
  EXPECT_THROW((void)*it, pyconc::TimeoutError);
  double waited = seconds_since(start);
  EXPECT_GE(waited, 0.19);
  EXPECT_LT(waited, kPrompt);
  gates[1].set();
}

TYPED_TEST_P(ExecutorSuite, MapTimeoutCountsFromTheCall) {
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  using Gate = typename TypeParam::Gate;
  auto ex = TypeParam::make(1);
  Gate release;
  OpenOnExit<Gate> open({release});
  // The deadline is fixed when map() is called, so a late consumer gets no extra time.
  auto results = ex->map(wait_then<Gate>, {.timeout = 30ms}, std::vector{release}, std::vector{1});
  std::this_thread::sleep_for(40ms);
  auto start = Clock::now();
  EXPECT_THROW((void)*results.begin(), pyconc::TimeoutError);
  EXPECT_LT(seconds_since(start), kPrompt);
}

TYPED_TEST_P(ExecutorSuite, MapChunksizeBelowOneRaisesValueError) {
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  auto ex = TypeParam::make(1);
  std::vector<int> inputs{1, 2, 3};
  EXPECT_THROW(ex->map(square, {.chunksize = 0}, inputs), pyconc::ValueError);
  EXPECT_THROW(ex->map(square, {.chunksize = -1}, inputs), pyconc::ValueError);
  EXPECT_EQ(ex->map(square, {.chunksize = 2}, inputs).to_vector(), (std::vector{1, 4, 9}));
}

TYPED_TEST_P(ExecutorSuite, DestroyingMapResultsCancelsUnconsumedWork) {
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  using Gate = typename TypeParam::Gate;
  constexpr int kN = 6;
  auto ex = TypeParam::make(1);
  std::vector<Gate> started(kN), release(kN), ran(kN);
  OpenOnExit<Gate> open(release);

  release[0].set();
  {
    auto results = ex->map(start_wait_then_mark<Gate>, started, release, ran);
    EXPECT_EQ(*results.begin(), 1);
    // Wait until element 1 runs (blocked), with the rest queued behind it. Without
    // this, the cancellation could overtake a worker not yet at element 1, which would
    // then skip the cancelled ones and start one the cancellation had not reached yet.
    ASSERT_TRUE(started[1].wait(kLong));
  }
  for (const Gate& g : release) g.set();
  ex->shutdown(true);

  EXPECT_TRUE(ran[0].is_set());
  for (int i = 2 + prefetch<TypeParam>(); i < kN; ++i)
    EXPECT_FALSE(ran[i].is_set()) << "element " << i << " ran after its MapResults was destroyed";
}
