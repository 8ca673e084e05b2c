// The Executor test suite's shutdown() and destructor tests (see executor_suite.hpp).
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

// -------------------------------------------------------------------------- shutdown

TYPED_TEST_P(ExecutorSuite, ShutdownWaitsForQueuedWork) {
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  auto ex = TypeParam::make(1);
  std::vector<pyconc::futures::Future<int>> fs;
  for (int i = 0; i < 4; ++i) fs.push_back(ex->submit(sleep_then, 20, i));
  ex->shutdown(true);
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(fs[i].done()) << i;
    EXPECT_EQ(fs[i].result(), i);
  }
}

TYPED_TEST_P(ExecutorSuite, ShutdownWithoutWaitLetsWorkFinish) {
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  using Gate = typename TypeParam::Gate;
  auto ex = TypeParam::make(1);
  Gate started, release;
  OpenOnExit<Gate> open({release});
  auto running = ex->submit(block<Gate>, started, release, 1);
  auto queued = ex->submit(square, 6);
  ASSERT_TRUE(started.wait(kLong));

  auto start = Clock::now();
  ex->shutdown(false);
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_FALSE(running.done());
  EXPECT_THROW(ex->submit(square, 1), pyconc::RuntimeError);

  release.set();
  EXPECT_EQ(running.result(), 1);
  EXPECT_EQ(queued.result(), 36) << "shutdown without cancel_futures keeps queued work";
}

TYPED_TEST_P(ExecutorSuite, SubmitAfterShutdownRaisesRuntimeError) {
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  auto ex = TypeParam::make(1);
  EXPECT_EQ(ex->submit(square, 2).result(), 4);
  ex->shutdown();
  EXPECT_THROW(ex->submit(square, 3), pyconc::RuntimeError);
  EXPECT_THROW(ex->map(square, std::vector{1, 2}), pyconc::RuntimeError);
  // Python: "cannot schedule new futures after shutdown".
  try {
    ex->submit(square, 3);
  } catch (const pyconc::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("shutdown"), std::string::npos) << e.what();
  }
}

TYPED_TEST_P(ExecutorSuite, ShutdownCancelFuturesCancelsQueuedWork) {
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  using Gate = typename TypeParam::Gate;
  constexpr int kQueued = 6;
  auto ex = TypeParam::make(1);
  Gate started, release;
  OpenOnExit<Gate> open({release});
  auto running = ex->submit(block<Gate>, started, release, 7);
  ASSERT_TRUE(started.wait(kLong));
  std::vector<pyconc::futures::Future<int>> queued;
  for (int i = 0; i < kQueued; ++i) queued.push_back(ex->submit(square, i));

  ex->shutdown(false, true);
  // Python's process pool cancels from a helper thread, hence "eventually".
  for (int i = prefetch<TypeParam>(); i < kQueued; ++i) {
    EXPECT_TRUE(eventually([&] { return queued[i].cancelled(); })) << i;
    EXPECT_TRUE(queued[i].done());
    EXPECT_THROW(queued[i].result(), pyconc::CancelledError);
    EXPECT_THROW(queued[i].exception(), pyconc::CancelledError);
  }
  EXPECT_FALSE(running.cancelled());
  EXPECT_FALSE(running.done());

  release.set();
  EXPECT_EQ(running.result(), 7) << "the running call completes";
  ex->shutdown(true);
  for (int i = 0; i < kQueued; ++i) {
    ASSERT_TRUE(queued[i].done());
    if (!queued[i].cancelled()) {
      EXPECT_EQ(queued[i].result(), i * i);  // a prefetched one
    }
  }
  // Cancelled work counts as done for wait() once the executor has seen it.
  auto [done, not_done] = pyconc::futures::wait(queued, kLong);
  EXPECT_EQ(done.size(), queued.size());
  EXPECT_TRUE(not_done.empty());
}

TYPED_TEST_P(ExecutorSuite, ShutdownTwiceIsFine) {
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  auto ex = TypeParam::make(2);
  auto f = ex->submit(sleep_then, 10, 3);
  ex->shutdown();
  ex->shutdown();
  ex->shutdown(false);
  ex->shutdown(true, true);
  EXPECT_EQ(f.result(), 3);
}

TYPED_TEST_P(ExecutorSuite, DestructorWaitsForQueuedWork) {
  using namespace pyconc_test;
  using namespace pyconc_test::suite;
  auto ex = TypeParam::make(2);
  std::vector<pyconc::futures::Future<int>> fs;
  for (int i = 0; i < 6; ++i) fs.push_back(ex->submit(sleep_then, 20, i));
  ex.reset();
  for (int i = 0; i < 6; ++i) {
    EXPECT_TRUE(fs[i].done()) << i;
    EXPECT_EQ(fs[i].result(), i);
  }
}
