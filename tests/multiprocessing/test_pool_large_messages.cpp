// Process pools with messages larger than a worker's ring (1 MiB): results and
// arguments of a ring's size and beyond arrive intact, in both directions, under fork,
// spawn and forkserver.
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <pyconc/multiprocessing.hpp>

#include "mp_support.hpp"
#include "sanitizers.hpp"

namespace futures = pyconc::futures;
namespace mp = pyconc::multiprocessing;
using namespace std::chrono_literals;

namespace {

std::string pattern(long long bytes) {
  std::string s(static_cast<std::size_t>(bytes), '\0');
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4093) % 26);
  return s;
}

std::string make(long long bytes) { return pattern(bytes); }
bool check(std::string s, long long bytes) { return s == pattern(bytes); }
std::string echo(std::string s) { return s; }

std::vector<long long> sizes() {
  constexpr long long kRing = 1ll << 20;
#ifdef PYCONC_SANITIZED
  return {kRing - 64, kRing - 21, kRing, kRing + 1, 3 * kRing + 17, 8 * kRing};
#else
  return {kRing - 64, kRing - 21, kRing, kRing + 1, 3 * kRing + 17, 64 * kRing};
#endif
}

class PoolLargeMessages : public ::testing::TestWithParam<std::string> {};

TEST_P(PoolLargeMessages, PoolResultsAndArgumentsBeyondTheRing) {
  mp::Pool pool = mp::get_context(GetParam()).Pool(2);
  for (long long n : sizes()) {
    std::string expected = pattern(n);
    EXPECT_TRUE(pool.apply_async(make, n).get(60s) == expected) << n << " bytes back";
    EXPECT_TRUE(pool.apply_async(check, expected, n).get(60s)) << n << " bytes there";
    EXPECT_TRUE(pool.apply_async(echo, expected).get(60s) == expected) << n << " bytes there and back";
  }
  EXPECT_EQ(pool.worker_pids().size(), 2u);
  pool.close();
  pool.join();
}

TEST_P(PoolLargeMessages, ExecutorResultsAndArgumentsBeyondTheRing) {
  futures::ProcessPoolExecutor ex(2, {.mp_context = mp::get_context(GetParam())});
  for (long long n : sizes()) {
    std::string expected = pattern(n);
    auto back = ex.submit(make, n);
    auto there = ex.submit(check, expected, n);
    EXPECT_TRUE(back.result(60s) == expected) << n << " bytes back";
    EXPECT_TRUE(there.result(60s)) << n << " bytes there";
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, PoolLargeMessages, ::testing::ValuesIn(pyconc_test::start_methods()),
                         pyconc_test::method_name);

}  // namespace
