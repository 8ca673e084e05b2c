// multiprocessing::Pool: map, map_async, starmap, starmap_async, imap, imap_unordered,
// chunksize, empty inputs, void functions and failing chunks, under every start method.
#include <algorithm>
#include <atomic>
#include <exception>
#include <list>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include <pyconc/threading/event.hpp>

#include "pool_support.hpp"
#include "support.hpp"

using namespace pool_test;
using pyconc_test::message_of;

namespace {

std::vector<int> squares(int n) {
  std::vector<int> v;
  for (int i = 0; i < n; ++i) v.push_back(i * i);
  return v;
}

class PoolMap : public MethodTest {};

TEST_P(PoolMap, MapKeepsTheOrder) {
  mp::Pool pool = make_pool();
  EXPECT_EQ(pool.map(square, iota(1000)), squares(1000));
  auto xs = iota(10);
  EXPECT_EQ(pool.map(square, std::list<int>(xs.begin(), xs.end())), squares(10));  // any input range
}

TEST_P(PoolMap, MapWithEveryChunksize) {
  mp::Pool pool = make_pool();
  for (int chunksize : {1, 7, 100, 5000})  // 5000: larger than the input, one chunk
    EXPECT_EQ(pool.map(square, iota(1000), {.chunksize = chunksize}), squares(1000)) << chunksize;
  EXPECT_EQ(pool.map(square, iota(3), {.chunksize = 1}), squares(3));
}

TEST_P(PoolMap, EmptyInputs) {
  mp::Pool pool = make_pool();
  std::vector<int> none;
  EXPECT_TRUE(pool.map(square, none).empty());
  EXPECT_TRUE(pool.map_async(square, none).get(kPatience).empty());
  EXPECT_TRUE(pool.starmap(add2, std::vector<std::tuple<int, int>>{}).empty());
  auto it = pool.imap(square, none);
  EXPECT_EQ(it.size(), 0u);
  EXPECT_EQ(it.next(kPatience), std::nullopt);
  auto un = pool.imap_unordered(square, none);
  EXPECT_EQ(un.next(), std::nullopt);
}

TEST_P(PoolMap, VoidFunctionsGiveMonostates) {
  mp::Pool pool = make_pool();
  mp::Value<int> total(0);
  std::vector<std::tuple<mp::Value<int>, int>> items;
  for (int i = 1; i <= 100; ++i) items.emplace_back(total, i);
  std::vector<std::monostate> r = pool.starmap(add_to, items, {.chunksize = 9});
  EXPECT_EQ(r.size(), 100u);
  EXPECT_EQ(total.value(), 5050);
  std::vector<std::monostate> m = pool.map(nothing, iota(20));
  EXPECT_EQ(m.size(), 20u);
  int count = 0;
  for (std::monostate x : pool.imap(nothing, iota(5))) {
    (void)x;
    ++count;
  }
  EXPECT_EQ(count, 5);
}

TEST_P(PoolMap, MapFailsWholeWhenAChunkFails) {
  mp::Pool pool = make_pool();
  EXPECT_THROW(pool.map(square_unless_13, iota(100), {.chunksize = 5}), pyconc::ValueError);
  // The message is read while a result held here keeps the exception alive (see
  // test_pool.cpp, ExceptionsKeepTheirTypesAndMessages).
  auto held = pool.map_async(square_unless_13, iota(100), {.chunksize = 5});
  EXPECT_EQ(message_of<pyconc::ValueError>([&] { held.get(kPatience); }), "item 13");
  auto r = pool.map_async(square_unless_13, iota(100), {.chunksize = 3});
  r.wait();
  EXPECT_FALSE(r.successful());
  EXPECT_THROW(r.get(kPatience), pyconc::ValueError);
  EXPECT_EQ(pool.map(square, iota(10)), squares(10));  // the pool goes on serving
}

TEST_P(PoolMap, MapAsyncCallbackGetsTheList) {
  mp::Pool pool = make_pool();
  pyconc::threading::Event called;
  std::vector<int> seen;
  std::atomic<int> calls{0}, errors{0};
  auto r = pool.map_async(square, iota(200),
                          {.chunksize = 8,
                           .callback =
                               [&](const std::vector<int>& v) {
                                 seen = v;
                                 ++calls;
                                 called.set();
                               },
                           .error_callback = [&](std::exception_ptr) { ++errors; }});
  EXPECT_EQ(r.get(kPatience), squares(200));
  ASSERT_TRUE(called.wait(kPatience));
  pool.close();
  pool.join();
  EXPECT_EQ(seen, squares(200));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(errors, 0);
}

TEST_P(PoolMap, MapAsyncErrorCallbackRunsOnce) {
  mp::Pool pool = make_pool();
  pyconc::threading::Event called;
  std::atomic<int> calls{0}, successes{0};
  std::string message;
  // Several chunks fail (every item raises): the error callback still runs once.
  auto r = pool.map_async(fail_quota, iota(40),
                          {.chunksize = 2,
                           .callback = [&](const std::vector<int>&) { ++successes; },
                           .error_callback =
                               [&](std::exception_ptr e) {
                                 try {
                                   std::rethrow_exception(e);
                                 } catch (const QuotaError& q) {
                                   message = q.what();
                                 } catch (...) {
                                   message = "another type";
                                 }
                                 ++calls;
                                 called.set();
                               }});
  EXPECT_THROW(r.get(kPatience), QuotaError);
  ASSERT_TRUE(called.wait(kPatience));
  pool.close();
  pool.join();
  EXPECT_EQ(message.rfind("quota ", 0), 0u) << message;
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(successes, 0);
}

TEST_P(PoolMap, StarmapTakesTuplesAndPairs) {
  mp::Pool pool = make_pool();
  std::vector<std::tuple<int, long, int>> triples;
  std::vector<std::pair<int, int>> pairs;
  std::vector<long> expect3;
  std::vector<int> expect2;
  for (int i = 0; i < 300; ++i) {
    triples.emplace_back(i, 2L * i, 1);
    pairs.emplace_back(i, -2 * i);
    expect3.push_back(3L * i + 1);
    expect2.push_back(-i);
  }
  EXPECT_EQ(pool.starmap(add3, triples), expect3);
  EXPECT_EQ(pool.starmap(add2, pairs, {.chunksize = 7}), expect2);
  EXPECT_EQ(pool.starmap(add2, pairs, {.chunksize = 1000}), expect2);
}

TEST_P(PoolMap, StarmapAsync) {
  mp::Pool pool = make_pool();
  std::vector<std::pair<std::string, int>> items{{"a", 1}, {"b", 2}, {"c", 3}};
  pyconc::threading::Event called;
  std::vector<std::string> seen;
  auto r = pool.starmap_async(concat, items, {.callback = [&](const std::vector<std::string>& v) {
                                                seen = v;
                                                called.set();
                                              }});
  std::vector<std::string> expect{"a", "bb", "ccc"};
  EXPECT_EQ(r.get(kPatience), expect);
  ASSERT_TRUE(called.wait(kPatience));
  pool.close();
  pool.join();
  EXPECT_EQ(seen, expect);
}

TEST_P(PoolMap, StarmapAsyncErrorCallback) {
  mp::Pool pool = make_pool();
  std::vector<std::tuple<int, int>> items{{1, 0}, {13, 13}, {2, 0}};
  pyconc::threading::Event called;
  auto r = pool.starmap_async(square_unless, items,
                              {.chunksize = 1, .error_callback = [&](std::exception_ptr) { called.set(); }});
  EXPECT_THROW(r.get(kPatience), pyconc::ValueError);
  EXPECT_TRUE(called.wait(kPatience));
}

TEST_P(PoolMap, ChunksizeBelowOneIsAValueError) {
  mp::Pool pool = make_pool();
  auto xs = iota(10);
  EXPECT_EQ(message_of<pyconc::ValueError>([&] { pool.map(square, xs, {.chunksize = 0}); }),
            "Chunksize must be 1+, not 0");
  EXPECT_EQ(message_of<pyconc::ValueError>([&] { pool.map_async(square, xs, {.chunksize = -3}); }),
            "Chunksize must be 1+, not -3");
  EXPECT_THROW(pool.starmap(add2, std::vector<std::pair<int, int>>{{1, 2}}, {.chunksize = 0}), pyconc::ValueError);
  EXPECT_EQ(message_of<pyconc::ValueError>([&] { pool.imap(square, xs, {.chunksize = 0}); }),
            "Chunksize must be 1+, not 0");
  EXPECT_THROW(pool.imap_unordered(square, xs, {.chunksize = -1}), pyconc::ValueError);
  EXPECT_EQ(pool.map(square, xs), squares(10));  // nothing was submitted; the pool serves
}

TEST_P(PoolMap, ImapGivesResultsInOrder) {
  mp::Pool pool = make_pool();
  for (int chunksize : {1, 7, 2000}) {
    auto it = pool.imap(square, iota(1000), {.chunksize = chunksize});
    EXPECT_EQ(it.size(), 1000u);
    std::vector<int> got;
    for (int v : it) got.push_back(v);
    EXPECT_EQ(got, squares(1000)) << chunksize;
  }
  std::vector<int> got;
  for (int v : pool.imap(square, iota(50))) got.push_back(v);  // default chunksize
  EXPECT_EQ(got, squares(50));
}

TEST_P(PoolMap, ImapNextAndItsEnd) {
  mp::Pool pool = make_pool();
  auto it = pool.imap(square, iota(5), {.chunksize = 2});
  EXPECT_EQ(it.next(), 0);
  EXPECT_EQ(it.next(kPatience), 1);
  for (int i = 2; i < 5; ++i) EXPECT_EQ(it.next(kPatience), i * i);
  EXPECT_EQ(it.next(), std::nullopt);  // Python: StopIteration
  EXPECT_EQ(it.next(kPatience), std::nullopt);
}

TEST_P(PoolMap, ImapNextWithTimeoutRaisesTimeoutError) {
  mp::Pool pool = make_pool();
  mp::Event gate;
  std::vector<std::pair<mp::Event, int>> items{{gate, 1}, {gate, 2}};
  auto it = pool.imap(square, iota(0));
  EXPECT_EQ(it.next(0.01s), std::nullopt);
  auto ordered = pool.imap(wait_then_pair, items);
  EXPECT_THROW(ordered.next(0.05s), mp::TimeoutError);
  auto unordered = pool.imap_unordered(wait_then_pair, items);
  EXPECT_THROW(unordered.next(0.05s), mp::TimeoutError);
  gate.set();
  EXPECT_EQ(ordered.next(kPatience), 1);  // the timeout lost nothing
  EXPECT_EQ(ordered.next(kPatience), 2);
  EXPECT_EQ(ordered.next(kPatience), std::nullopt);
  std::vector<int> rest{*unordered.next(kPatience), *unordered.next(kPatience)};
  std::sort(rest.begin(), rest.end());
  EXPECT_EQ(rest, (std::vector<int>{1, 2}));
  EXPECT_EQ(unordered.next(kPatience), std::nullopt);
}

TEST_P(PoolMap, ImapUnorderedGivesEveryResult) {
  mp::Pool pool = make_pool();
  for (int chunksize : {1, 7, 2000}) {
    std::vector<int> got;
    for (int v : pool.imap_unordered(square, iota(500), {.chunksize = chunksize})) got.push_back(v);
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, squares(500)) << chunksize;
  }
}

TEST_P(PoolMap, ImapUnorderedHandsOutWhatIsDoneFirst) {
  mp::Pool pool = make_pool();
  mp::Event gate;
  // Item 0 waits for the gate; item 1 does not: imap_unordered gives 1 first, imap
  // would wait for 0.
  mp::Event open;
  open.set();
  std::vector<std::pair<mp::Event, int>> items{{gate, 0}, {open, 1}};
  auto it = pool.imap_unordered(wait_then_pair, items);
  EXPECT_EQ(it.next(kPatience), 1);
  gate.set();
  EXPECT_EQ(it.next(kPatience), 0);
  EXPECT_EQ(it.next(kPatience), std::nullopt);
}

TEST_P(PoolMap, ImapFailingChunkRethrowsAtItsPosition) {
  mp::Pool pool = make_pool();
  // chunksize 5: items 10..14 share the chunk of 13; they are lost with it.
  auto it = pool.imap(square_unless_13, iota(20), {.chunksize = 5});
  for (int i = 0; i < 10; ++i) EXPECT_EQ(it.next(kPatience), i * i);
  EXPECT_EQ(message_of<pyconc::ValueError>([&] { it.next(kPatience); }), "item 13");
  for (int i = 15; i < 20; ++i) EXPECT_EQ(it.next(kPatience), i * i);
  EXPECT_EQ(it.next(kPatience), std::nullopt);

  auto single = pool.imap(square_unless_13, iota(16));  // chunksize 1: only 13 fails
  for (int i = 0; i < 13; ++i) EXPECT_EQ(single.next(kPatience), i * i);
  EXPECT_THROW(single.next(kPatience), pyconc::ValueError);
  for (int i = 14; i < 16; ++i) EXPECT_EQ(single.next(kPatience), i * i);
  EXPECT_EQ(single.next(kPatience), std::nullopt);
}

TEST_P(PoolMap, ImapUnorderedFailingChunkRethrowsOnce) {
  mp::Pool pool = make_pool();
  auto it = pool.imap_unordered(square_unless_13, iota(20));
  std::vector<int> got;
  int failures = 0;
  for (;;) {
    try {
      auto v = it.next(kPatience);
      if (!v) break;
      got.push_back(*v);
    } catch (const pyconc::ValueError&) {
      ++failures;
    }
  }
  EXPECT_EQ(failures, 1);
  EXPECT_EQ(got.size(), 19u);
}

TEST_P(PoolMap, OptionsRightAfterTheFunction) {
  // As Executor::map places them: pool.map(f, {.chunksize = 2}, xs).
  mp::Pool pool = make_pool();
  std::vector<int> xs{1, 2, 3};
  EXPECT_EQ(pool.map(square, {.chunksize = 2}, xs), (std::vector{1, 4, 9}));
  EXPECT_EQ(pool.map_async(square, {.chunksize = 1}, xs).get(kPatience), (std::vector{1, 4, 9}));
  int sum = 0;
  for (int v : pool.imap(square, {.chunksize = 2}, xs)) sum += v;
  EXPECT_EQ(sum, 14);
}

POOL_TEST_METHODS(PoolMap);

}  // namespace
