// multiprocessing::Pool: values crossing to the workers and back (strings, containers,
// a user struct, process-shared handles, a 64 MiB argument, a 1 GiB result), and a task
// whose result cannot be pickled failing alone.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "pool_support.hpp"
#include "sanitizers.hpp"
#include "support.hpp"

using namespace pool_test;
using pyconc_test::message_of;

namespace {

std::string reverse(std::string s) { return {s.rbegin(), s.rend()}; }
std::vector<double> doubled(std::vector<double> v) {
  for (double& x : v) x *= 2;
  return v;
}
std::map<std::string, std::vector<int>> invert(std::map<int, std::string> m) {
  std::map<std::string, std::vector<int>> out;
  for (auto& [k, v] : m) out[v].push_back(k);
  return out;
}
Point moved(Point p, int dx) {
  p.x += dx;
  p.y /= 2;
  p.label += "'";
  return p;
}
std::vector<Point> points(int n) {
  std::vector<Point> v;
  for (int i = 0; i < n; ++i) v.push_back({i, i * 0.5, "p" + std::to_string(i)});
  return v;
}
std::tuple<int, std::string, std::vector<int>> mixed(int n) { return {n, std::string(n, 'z'), iota(n)}; }

/// A task whose result cannot be pickled.
Unpicklable unpicklable(int x) { return {x}; }

/// A byte of the pattern that big results and arguments carry.
char pattern(std::size_t i) { return static_cast<char>('a' + (i * 7 + i / 4099) % 26); }

/// FNV-1a over the bytes of `s`.
std::uint64_t digest(const std::string& s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  return h;
}

std::string big_string(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = pattern(i);
  return s;
}

/// The size and digest of an argument, computed in the worker.
std::pair<std::size_t, std::uint64_t> measure(std::string s) { return {s.size(), digest(s)}; }

/// The handles a task gets: it takes the lock, bumps the value, puts on the queue.
int use_handles(mp::Queue<std::string> q, mp::Lock lock, mp::Value<int> v, int x) {
  {
    std::scoped_lock held(lock);
    v.get_obj() += x;
  }
  q.put("item " + std::to_string(x));
  return x;
}
std::string take(mp::Queue<std::string> q) { return q.get(kPatience); }

class PoolValues : public MethodTest {};

TEST_P(PoolValues, StringsContainersAndStructs) {
  mp::Pool pool = make_pool();
  EXPECT_EQ(pool.apply(reverse, std::string("hello, pool")), "loop ,olleh");
  EXPECT_EQ(pool.apply(reverse, std::string()), "");
  std::string with_nul("a\0b\xff", 4);
  EXPECT_EQ(pool.apply(reverse, with_nul), std::string("\xff" "b\0a", 4));
  EXPECT_EQ(pool.apply(doubled, std::vector<double>{1.5, -2, 0}), (std::vector<double>{3, -4, 0}));
  std::map<int, std::string> m{{1, "one"}, {2, "two"}, {3, "one"}};
  std::map<std::string, std::vector<int>> inverted{{"one", {1, 3}}, {"two", {2}}};
  EXPECT_EQ(pool.apply(invert, m), inverted);
  EXPECT_EQ(pool.apply(moved, Point{1, 3.0, "p"}, 4), (Point{5, 1.5, "p'"}));
  EXPECT_EQ(pool.apply(points, 100), points(100));
  EXPECT_EQ(pool.apply(mixed, 5), mixed(5));
  std::vector<std::string> words{"abc", "", "de"};
  EXPECT_EQ(pool.map(reverse, words), (std::vector<std::string>{"cba", "", "ed"}));
  std::vector<std::pair<Point, int>> shifts{{{1, 2, "a"}, 1}, {{3, 4, "b"}, -3}};
  EXPECT_EQ(pool.starmap(moved, shifts), (std::vector<Point>{{2, 1, "a'"}, {0, 2, "b'"}}));
}

TEST_P(PoolValues, ProcessSharedHandlesAsArguments) {
  mp::Pool pool = make_pool();
  mp::Queue<std::string> q;
  mp::Lock lock;
  mp::Value<int> total(0);
  std::vector<mp::AsyncResult<int>> rs;
  for (int i = 1; i <= 20; ++i) rs.push_back(pool.apply_async(use_handles, q, lock, total, i));
  for (auto& r : rs) r.get(kPatience);
  EXPECT_EQ(total.value(), 210);
  std::multiset<std::string> items;
  for (int i = 0; i < 20; ++i) items.insert(q.get(kPatience));
  EXPECT_EQ(items.count("item 20"), 1u);
  EXPECT_EQ(items.size(), 20u);
  // The other way: the parent puts, a worker takes.
  q.put("from the parent");
  EXPECT_EQ(pool.apply(take, q), "from the parent");
  // Inside map items too.
  std::vector<std::tuple<mp::Queue<std::string>, mp::Lock, mp::Value<int>, int>> items4;
  for (int i = 0; i < 10; ++i) items4.emplace_back(q, lock, total, 1);
  EXPECT_EQ(pool.starmap(use_handles, items4, {.chunksize = 3}).size(), 10u);
  EXPECT_EQ(total.value(), 220);
}

TEST_P(PoolValues, ALargeArgumentStreamsIn) {
#ifdef PYCONC_SANITIZED
  constexpr std::size_t kBytes = std::size_t{16} << 20;
#else
  constexpr std::size_t kBytes = std::size_t{64} << 20;
#endif
  mp::Pool pool = make_pool();
  std::string big = big_string(kBytes);
  auto [size, hash] = pool.apply_async(measure, big).get(kPatience);
  EXPECT_EQ(size, kBytes);
  EXPECT_EQ(hash, digest(big));
  EXPECT_EQ(pool.apply(square, 3), 9);  // the worker that streamed it serves on
}

TEST_P(PoolValues, AnUnpicklableResultFailsAlone) {
  mp::Pool pool = make_pool();
  auto bad = pool.apply_async(unpicklable, 1);
  auto good = pool.apply_async(square, 2);
  EXPECT_EQ(message_of<pyconc::ValueError>([&] { bad.get(kPatience); }), "Unpicklable cannot be pickled");
  EXPECT_EQ(good.get(kPatience), 4);
  auto m = pool.map_async(unpicklable, iota(10), {.chunksize = 5});
  EXPECT_THROW(m.get(kPatience), pyconc::ValueError);
  std::vector<mp::AsyncResult<int>> rs;
  for (int i = 0; i < 20; ++i) rs.push_back(pool.apply_async(square, i));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(rs[static_cast<std::size_t>(i)].get(kPatience), i * i);
}

TEST_P(PoolValues, AnUnpicklableArgumentFailsAlone) {
  mp::Pool pool = make_pool();
  auto bad = pool.apply_async(+[](Unpicklable u) { return u.value; }, Unpicklable{1});
  EXPECT_EQ(message_of<pyconc::ValueError>([&] { bad.get(kPatience); }), "Unpicklable cannot be pickled");
  EXPECT_EQ(pool.apply(square, 6), 36);
}

POOL_TEST_METHODS(PoolValues);

TEST(PoolValuesHuge, AOneGibResultArrivesIntact) {
#ifdef PYCONC_SANITIZED
  constexpr std::size_t kBytes = std::size_t{128} << 20;  // sanitizers: memory and time
#else
  constexpr std::size_t kBytes = std::size_t{1} << 30;
#endif
  mp::Pool pool = mp::get_context("fork").Pool(1);
  auto t0 = pyconc_test::Clock::now();
  std::string r = pool.apply_async(big_string, kBytes).get(kPatience * 3);
  double took = pyconc_test::seconds_since(t0);
  ASSERT_EQ(r.size(), kBytes);
  auto t1 = pyconc_test::Clock::now();
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < kBytes; ++i) wrong += r[i] != pattern(i);
  EXPECT_EQ(wrong, 0u);
  // The check computes the pattern again: about what making it cost the worker.
  std::printf("[ figures  ] a result of %zu MiB made and returned in %.2f s (checking it here: %.2f s)\n",
              kBytes >> 20, took, pyconc_test::seconds_since(t1));
  EXPECT_EQ(r[kBytes - 1], pattern(kBytes - 1));
  r.clear();
  r.shrink_to_fit();
  EXPECT_EQ(pool.apply(square, 4), 16);  // the pool serves on
}

}  // namespace
