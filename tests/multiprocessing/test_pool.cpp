// multiprocessing::Pool: apply and apply_async, AsyncResult (get, get(timeout), wait,
// wait(timeout), ready, successful), callbacks, and exceptions keeping their types,
// under every start method. The map family is in test_pool_map.cpp; close/terminate/
// join in test_pool_lifecycle.cpp; options in test_pool_options.cpp; values in
// test_pool_values.cpp.
#include <atomic>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <pyconc/futures/wait.hpp>
#include <pyconc/threading/event.hpp>

#include "pool_support.hpp"
#include "support.hpp"

using namespace pool_test;
using pyconc_test::message_of;

namespace {

class PoolApply : public MethodTest {};

TEST_P(PoolApply, ApplyReturnsTheValue) {
  mp::Pool pool = make_pool();
  EXPECT_EQ(pool.apply(square, 7), 49);
  EXPECT_EQ(pool.apply(add3, 1, 2L, 3), 6);
  EXPECT_EQ(pool.apply(concat, std::string("ab"), 3), "ababab");
  EXPECT_EQ(pool.apply(+[] { return 5; }), 5);  // a captureless lambda, no argument
}

TEST_P(PoolApply, ApplyAsyncGet) {
  mp::Pool pool = make_pool();
  std::vector<mp::AsyncResult<int>> rs;
  for (int i = 0; i < 50; ++i) rs.push_back(pool.apply_async(square, i));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(rs[static_cast<std::size_t>(i)].get(kPatience), i * i);
  EXPECT_EQ(rs[3].get(), 9);  // get() again: the same value
}

TEST_P(PoolApply, GetWithTimeoutRaisesTimeoutErrorThenGivesTheValue) {
  mp::Pool pool = make_pool();
  mp::Event gate;
  auto r = pool.apply_async(wait_then, gate, 11);
  EXPECT_THROW(r.get(0.05s), mp::TimeoutError);
  EXPECT_FALSE(r.ready());
  gate.set();
  EXPECT_EQ(r.get(kPatience), 11);
}

TEST_P(PoolApply, WaitWithTimeoutIsFalseThenTrue) {
  mp::Pool pool = make_pool();
  mp::Event gate;
  auto r = pool.apply_async(wait_then, gate, 3);
  EXPECT_FALSE(r.wait(0.05s));
  EXPECT_FALSE(r.wait(0s));
  EXPECT_FALSE(r.ready());
  gate.set();
  EXPECT_TRUE(r.wait(kPatience));
  EXPECT_TRUE(r.ready());
  EXPECT_TRUE(r.wait(0s));
  r.wait();  // returns at once
  EXPECT_EQ(r.get(), 3);
}

TEST_P(PoolApply, WaitWithoutTimeoutReturnsOnceReady) {
  mp::Pool pool = make_pool();
  auto ok = pool.apply_async(square, 4);
  ok.wait();
  EXPECT_TRUE(ok.ready());
  auto bad = pool.apply_async(fail_value, 4);
  bad.wait();  // does not throw: only get() does
  EXPECT_TRUE(bad.ready());
}

TEST_P(PoolApply, SuccessfulRaisesValueErrorBeforeReady) {
  mp::Pool pool = make_pool();
  mp::Event gate;
  auto r = pool.apply_async(wait_then, gate, 1);
  EXPECT_THROW((void)r.successful(), pyconc::ValueError);
  gate.set();
  r.wait();
  EXPECT_TRUE(r.successful());
  auto bad = pool.apply_async(fail_value, 1);
  bad.wait();
  EXPECT_FALSE(bad.successful());
}

TEST_P(PoolApply, CallbackRunsOnceWithTheValue) {
  mp::Pool pool = make_pool();
  pyconc::threading::Event called;
  std::atomic<int> calls{0}, value{0}, errors{0};
  auto r = pool.apply_async(square,
                            {.callback =
                                 [&](const int& v) {
                                   value = v;
                                   ++calls;
                                   called.set();
                                 },
                             .error_callback = [&](std::exception_ptr) { ++errors; }},
                            9);
  EXPECT_EQ(r.get(kPatience), 81);
  ASSERT_TRUE(called.wait(kPatience));
  EXPECT_EQ(value, 81);
  pool.close();
  pool.join();  // every callback has run by now
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(errors, 0);
}

TEST_P(PoolApply, ErrorCallbackRunsOnceWithTheException) {
  mp::Pool pool = make_pool();
  pyconc::threading::Event called;
  std::atomic<int> calls{0}, successes{0};
  std::string message;
  auto r = pool.apply_async(fail_value,
                            {.callback = [&](const int&) { ++successes; },
                             .error_callback =
                                 [&](std::exception_ptr e) {
                                   try {
                                     std::rethrow_exception(e);
                                   } catch (const pyconc::ValueError& v) {
                                     message = v.what();
                                   } catch (...) {
                                     message = "another type";
                                   }
                                   ++calls;
                                   called.set();
                                 }},
                            5);
  EXPECT_THROW(r.get(kPatience), pyconc::ValueError);
  ASSERT_TRUE(called.wait(kPatience));
  pool.close();
  pool.join();
  EXPECT_EQ(message, "bad value 5");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(successes, 0);
}

TEST_P(PoolApply, CallbackOfAVoidTask) {
  mp::Pool pool = make_pool();
  pyconc::threading::Event called;
  auto r = pool.apply_async(nothing, {.callback = [&] { called.set(); }}, 1);
  r.get(kPatience);
  EXPECT_TRUE(called.wait(kPatience));
  EXPECT_TRUE(r.successful());
}

TEST_P(PoolApply, ExceptionsKeepTheirTypesAndMessages) {
  mp::Pool pool = make_pool();
  EXPECT_THROW(pool.apply(fail_value, 1), pyconc::ValueError);
  EXPECT_THROW(pool.apply(fail_runtime, 2), std::runtime_error);
  EXPECT_THROW(pool.apply(fail_quota, 3), QuotaError);
  // Messages are read while a result held here keeps the exception alive. Otherwise the
  // pool's thread may drop the last reference right after this thread's catch block,
  // and ThreadSanitizer, which cannot see the exception's reference count (it lives in
  // libstdc++, not built with ThreadSanitizer), reports the read and the free as a race.
  auto value = pool.apply_async(fail_value, 1);
  EXPECT_EQ(message_of<pyconc::ValueError>([&] { value.get(kPatience); }), "bad value 1");
  auto runtime = pool.apply_async(fail_runtime, 2);
  EXPECT_EQ(message_of<std::runtime_error>([&] { runtime.get(kPatience); }), "runtime 2");
  auto quota = pool.apply_async(fail_quota, 3);
  EXPECT_EQ(message_of<QuotaError>([&] { quota.get(kPatience); }), "quota 3");
  auto r = pool.apply_async(fail_quota, 4);
  EXPECT_THROW(r.get(kPatience), QuotaError);
  EXPECT_THROW(r.get(), QuotaError);  // again: the same exception
  EXPECT_EQ(pool.apply(square, 5), 25);  // the workers that raised go on serving
}

TEST_P(PoolApply, ResultsWorkWithFuturesWait) {
  mp::Pool pool = make_pool();
  std::vector<pyconc::futures::Future<int>> fs;
  for (int i = 0; i < 10; ++i) fs.push_back(pool.apply_async(square, i).future());
  auto done = pyconc::futures::wait(fs, kPatience);
  EXPECT_EQ(done.done.size(), 10u);
  EXPECT_TRUE(done.not_done.empty());
}

POOL_TEST_METHODS(PoolApply);

}  // namespace
