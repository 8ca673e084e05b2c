// Pool::map/starmap/imap and ProcessPoolExecutor::map over the kinds of input range:
// a sized view chunked straight from the range, an rvalue container whose items are
// moved, a range without a size (copied first), enough chunks to go to the engine in
// several batches, and a range that throws while it is read.
#include <gtest/gtest.h>

#include <cstddef>
#include <iterator>
#include <pyconc/multiprocessing.hpp>
#include <string>
#include <utility>
#include <vector>

namespace mp = pyconc::multiprocessing;
namespace futures = pyconc::futures;
using namespace std::chrono_literals;

namespace {

long square(long x) { return x * x; }
std::string shout(std::string s) { return s + "!"; }
long add(long a, long b) { return a + b; }
long fail_on_seven(long x) {
  if (x == 7) throw pyconc::ValueError("seven");
  return x;
}

// The ints [from, to) as an input range computed as it is read: sized (Sized) or not;
// reading `throw_at` throws KeyError. (Not std::views::iota: clang 14 cannot compile it
// with libstdc++ 12.)
template <bool Sized>
struct Ints {
  struct iterator {
    using iterator_category = std::input_iterator_tag;
    using value_type = long;
    using difference_type = std::ptrdiff_t;
    long v = 0;
    long throw_at = -1;
    long operator*() const {
      if (v == throw_at) throw pyconc::KeyError("read");
      return v;
    }
    iterator& operator++() noexcept {
      ++v;
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator old = *this;
      ++v;
      return old;
    }
    bool operator==(const iterator& o) const noexcept { return v == o.v; }
  };
  long from = 0, to = 0, throw_at = -1;
  iterator begin() const noexcept { return {from, throw_at}; }
  iterator end() const noexcept { return {to, throw_at}; }
  std::size_t size() const noexcept
    requires Sized
  {
    return static_cast<std::size_t>(to - from);
  }
};
using Sized = Ints<true>;
using Unsized = Ints<false>;
static_assert(std::ranges::sized_range<Sized> && !std::ranges::sized_range<Unsized>);

mp::Pool fork_pool() { return mp::Pool({.processes = 2, .context = mp::get_context("fork")}); }

}  // namespace

TEST(PoolMapInputs, SizedViewInOrder) {
  mp::Pool pool = fork_pool();
  std::vector<long> out = pool.map(square, Sized{0, 100'000}, {.chunksize = 1000});
  ASSERT_EQ(out.size(), 100'000u);
  for (long i = 0; i < 100'000; ++i) ASSERT_EQ(out[static_cast<std::size_t>(i)], i * i);
  // The default chunksize over a sized view, and an empty one.
  EXPECT_EQ(pool.map(square, Sized{0, 10}).back(), 81);
  EXPECT_TRUE(pool.map(square, Sized{0, 0}).empty());
  pool.close();
  pool.join();
}

TEST(PoolMapInputs, ManyBatchesOfChunks) {
  // chunksize 1: 5,000 tasks, far more than one batch handed to the engine at once.
  mp::Pool pool = fork_pool();
  std::vector<long> xs(5000);
  for (long i = 0; i < 5000; ++i) xs[static_cast<std::size_t>(i)] = i;
  std::vector<long> out = pool.map(square, xs, {.chunksize = 1});
  ASSERT_EQ(out.size(), xs.size());
  for (long i = 0; i < 5000; ++i) ASSERT_EQ(out[static_cast<std::size_t>(i)], i * i);
  long k = 0;
  for (long v : pool.imap(square, Sized{0, 3000})) {
    ASSERT_EQ(v, k * k);
    ++k;
  }
  EXPECT_EQ(k, 3000);
  EXPECT_EQ(xs.size(), 5000u);  // an lvalue input is copied, not moved from
  pool.close();
  pool.join();
}

TEST(PoolMapInputs, RvalueContainerAndUnsizedRange) {
  mp::Pool pool = fork_pool();
  std::vector<std::string> words{"a", "bb", "ccc"};
  std::vector<std::string> loud = pool.map(shout, std::move(words), {.chunksize = 2});
  EXPECT_EQ(loud, (std::vector<std::string>{"a!", "bb!", "ccc!"}));
  std::vector<long> out = pool.map(square, Unsized{0, 20}, {.chunksize = 3});
  ASSERT_EQ(out.size(), 20u);
  for (std::size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], static_cast<long>(i * i));
  long k = 0;
  for (long v : pool.imap(square, Unsized{0, 30}, {.chunksize = 4})) {
    EXPECT_EQ(v, k * k);
    ++k;
  }
  EXPECT_EQ(k, 30);
  std::vector<std::pair<long, long>> pairs{{1, 2}, {3, 4}, {5, 6}};
  EXPECT_EQ(pool.starmap(add, pairs), (std::vector<long>{3, 7, 11}));
  pool.close();
  pool.join();
}

TEST(PoolMapInputs, FailuresKeepPythonsErrors) {
  mp::Pool pool = fork_pool();
  EXPECT_THROW(pool.map(fail_on_seven, Sized{0, 100}, {.chunksize = 4}), pyconc::ValueError);
  // A range that throws while it is read (after several batches of chunks went to the
  // engine): map raises it, and the pool goes on.
  EXPECT_THROW(pool.map(square, Sized{0, 1000, 600}, {.chunksize = 1}), pyconc::KeyError);
  EXPECT_THROW(pool.map(square, Unsized{0, 1000, 600}, {.chunksize = 1}), pyconc::KeyError);
  std::vector<long> seen;
  auto r = pool.map_async(square, Sized{0, 50},
                          {.chunksize = 5, .callback = [&seen](const std::vector<long>& v) { seen = v; }});
  ASSERT_EQ(r.get(30s).size(), 50u);
  EXPECT_EQ(r.get().back(), 49 * 49);  // get() again: the list is still there
  pool.close();
  pool.join();
  EXPECT_EQ(seen.size(), 50u);
}

TEST(PoolMapInputs, ExecutorMapOverViews) {
  futures::ProcessPoolExecutor ex(2, {.mp_context = mp::get_context("fork")});
  std::vector<long> out = ex.map(square, {.chunksize = 100}, Sized{0, 10'000}).to_vector();
  ASSERT_EQ(out.size(), 10'000u);
  for (long i = 0; i < 10'000; ++i) ASSERT_EQ(out[static_cast<std::size_t>(i)], i * i);
}
