// multiprocessing's shared ctypes: Value, Array (synchronised), RawValue, RawArray.
#include <chrono>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include <limits>

#include <gtest/gtest.h>

#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/sharedctypes.hpp"
#include "pyconc/pickle.hpp"
#include "test_sync_support.hpp"

// These tests acquire in one process or thread and release in another, and hand locks
// across lambdas: clang's static lock analysis cannot follow that (it is what the tests
// are about), so it is switched off for this file.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wthread-safety-analysis"
#endif

using namespace std::chrono_literals;
namespace mp = pyconc::multiprocessing;
using pyconc_test::fork_child;
using sync_test::join;
using sync_test::roundtrip;

namespace {

struct Point {
  double x, y;
};

TEST(MpValue, ValueAndSetValue) {
  mp::Value<int> v(7);
  EXPECT_EQ(v.value(), 7);
  v.set_value(8);
  EXPECT_EQ(v.value(), 8);
  EXPECT_EQ(v.get_obj(), 8);
  mp::Value<double> d;
  EXPECT_EQ(d.value(), 0.0);
  mp::Value<Point> p(Point{1, 2});
  EXPECT_EQ(p.value().y, 2);
}

TEST(MpValue, TheDefaultLockIsAnRLock) {
  mp::Value<int> v(0);
  EXPECT_TRUE(v.get_lock().is_rlock());
  std::scoped_lock with(v.get_lock());
  v.set_value(v.value() + 1);  // value() re-takes the RLock: fine
  EXPECT_EQ(v.value(), 1);
  EXPECT_TRUE(v.acquire(false));  // reentrant
  v.release();
}

TEST(MpValue, LockFalseHasNoLock) {
  mp::Value<int> v(3, false);
  EXPECT_THROW(v.get_lock(), pyconc::RuntimeError);
  EXPECT_THROW(v.acquire(), pyconc::RuntimeError);
  v.set_value(4);
  EXPECT_EQ(v.value(), 4);
}

TEST(MpValue, ValueAndArrayOfferEveryAcquireSpelling) {
  mp::Lock lock;  // not reentrant: held here, every timed acquire below times out
  mp::Value<int> v(0, lock);
  mp::Array<int> a(2, lock);
  ASSERT_TRUE(v.acquire());
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(v.acquire(0.05s));
  EXPECT_GE(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 0.04);
  EXPECT_FALSE(v.try_lock_for(10ms));
  EXPECT_FALSE(v.try_lock_until(std::chrono::steady_clock::now() + 10ms));
  EXPECT_FALSE(a.acquire(true, -1s));  // multiprocessing: negative counts as 0
  EXPECT_FALSE(a.try_lock_for(10ms));
  EXPECT_FALSE(a.try_lock_until(std::chrono::system_clock::now() + 10ms));
  a.release();  // the same lock: any handle releases it
  EXPECT_TRUE(a.try_lock_for(1s));
  v.release();
  mp::Value<int> unlocked(0, false);
  EXPECT_THROW(unlocked.try_lock_for(10ms), pyconc::RuntimeError);
  EXPECT_THROW(unlocked.try_lock_until(std::chrono::steady_clock::now()), pyconc::RuntimeError);
}

TEST(MpValue, AGivenLockIsShared) {
  mp::Lock lock;
  mp::Value<int> a(1, lock);
  mp::Array<int> b(2, lock);
  EXPECT_FALSE(a.get_lock().is_rlock());
  EXPECT_TRUE(a.get_lock().as_lock() == lock);
  EXPECT_TRUE(b.get_lock().as_lock() == lock);
  lock.acquire();
  EXPECT_FALSE(a.acquire(false));
  lock.release();
  mp::RLock rlock;
  mp::Value<int> c(1, rlock);
  EXPECT_TRUE(c.get_lock().as_rlock() == rlock);
}

TEST(MpValue, IncrementedUnderGetLockFromTwoProcesses) {
  mp::Value<long> counter(0);
  constexpr int kRounds = 10000;
  auto work = [&] {
    for (int i = 0; i < kRounds; ++i) {
      std::scoped_lock with(counter.get_lock());
      counter.set_value(counter.value() + 1);
    }
    return 0;
  };
  pid_t child = fork_child(work);
  work();
  EXPECT_EQ(join(child), 0);
  EXPECT_EQ(counter.value(), 2L * kRounds);
}

TEST(MpValue, APickledHandleSharesValueAndLock) {
  mp::Value<int> v(5);
  auto copy = roundtrip(v);
  copy.set_value(6);
  EXPECT_EQ(v.value(), 6);
  EXPECT_TRUE(copy.get_lock().as_rlock() == v.get_lock().as_rlock());
  mp::Value<int> raw(1, false);
  auto raw_copy = roundtrip(raw);
  EXPECT_THROW(raw_copy.get_lock(), pyconc::RuntimeError);
  raw_copy.set_value(2);
  EXPECT_EQ(raw.value(), 2);
}

TEST(MpArray, FromSizeAndFromValues) {
  mp::Array<int> zeros(4);
  EXPECT_EQ(zeros.size(), 4u);
  EXPECT_EQ(zeros.list(), (std::vector<int>{0, 0, 0, 0}));
  mp::Array<double> values({1.5, 2.5});
  EXPECT_EQ(values.size(), 2u);
  EXPECT_EQ(values[1], 2.5);
  std::vector<int> v{1, 2, 3};
  mp::Array<int> from_span{std::span<const int>(v)};
  EXPECT_EQ(from_span.list(), v);
  mp::Array<int> empty(std::size_t{0});
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_TRUE(empty.list().empty());
}

TEST(MpArray, ANegativeSizeIsValueError) {
  // As Python's Array('i', -1) (ctypes refuses a negative length); never a wrapped size.
  EXPECT_EQ(pyconc_test::message_of<pyconc::ValueError>([] { mp::Array<int> a(-1); }),
            "Array length must be >= 0, not -1");
  EXPECT_EQ(pyconc_test::message_of<pyconc::ValueError>([] { mp::Array<int> a(-3, false); }),
            "Array length must be >= 0, not -3");
  EXPECT_EQ(pyconc_test::message_of<pyconc::ValueError>([] { mp::RawArray<double> a(-1); }),
            "Array length must be >= 0, not -1");
  long long n = -2;
  EXPECT_THROW((void)mp::get_context("fork").Array<int>(n), pyconc::ValueError);
}

TEST(MpArray, ASizeBeyondMemoryIsOverflowError) {
  // As Python's Array(c_double, huge) raises OverflowError; never a wrapped-around size.
  std::size_t huge = std::numeric_limits<std::size_t>::max() / sizeof(double) + 2;
  EXPECT_THROW((void)mp::RawArray<double>(huge), pyconc::OverflowError);
  EXPECT_THROW((void)mp::Array<double>(huge), pyconc::OverflowError);
}

TEST(MpArray, ItemsAndSlices) {
  mp::Array<int> a(3);
  a[0] = 5;
  a[1] += 2;
  a[2] = a[0];
  a[2] -= 1;
  int x = a[0];
  EXPECT_EQ(x, 5);
  EXPECT_EQ(a.get(1), 2);
  EXPECT_EQ(a.list(), (std::vector<int>{5, 2, 4}));
  std::vector<int> next{7, 8, 9};
  a.assign(next);
  EXPECT_EQ(a.list(), next);
  std::vector<int> wrong{1};
  EXPECT_THROW(a.assign(wrong), pyconc::ValueError);
  EXPECT_THROW(a[3], pyconc::IndexError);
  EXPECT_THROW(a.get(10), pyconc::IndexError);
  EXPECT_THROW(a.set(3, 1), pyconc::IndexError);
  for (int& e : a.get_obj()) e = 0;
  EXPECT_EQ(a.list(), (std::vector<int>{0, 0, 0}));
  EXPECT_TRUE(a.get_lock().is_rlock());
  mp::Array<int> raw(2, false);
  EXPECT_THROW(raw.get_lock(), pyconc::RuntimeError);
  raw[1] = 3;
  EXPECT_EQ(raw.get(1), 3);
}

TEST(MpArray, IncrementedUnderGetLockFromTwoProcesses) {
  mp::Array<long> a(3);
  constexpr int kRounds = 5000;
  auto work = [&] {
    for (int i = 0; i < kRounds; ++i) {
      std::scoped_lock with(a.get_lock());
      for (std::size_t j = 0; j < a.size(); ++j) a[j] += static_cast<long>(j + 1);
    }
    return 0;
  };
  pid_t child = fork_child(work);
  work();
  EXPECT_EQ(join(child), 0);
  EXPECT_EQ(a.list(), (std::vector<long>{2L * kRounds, 4L * kRounds, 6L * kRounds}));
}

TEST(MpArray, APickledHandleSharesElements) {
  mp::Array<int> a({1, 2, 3});
  auto copy = roundtrip(a);
  EXPECT_EQ(copy.size(), 3u);
  copy[0] = 10;
  EXPECT_EQ(a[0], 10);
}

TEST(MpRaw, RawValueAndRawArray) {
  mp::RawValue<int> v(2);
  EXPECT_EQ(v.value(), 2);
  v.set_value(3);
  v.get_obj() += 1;
  EXPECT_EQ(v.value(), 4);
  mp::RawArray<int> a(3);
  a[1] = 5;
  EXPECT_EQ(a.at(1), 5);
  EXPECT_THROW(a.at(3), pyconc::IndexError);
  EXPECT_EQ(a.size(), 3u);
  mp::RawArray<char> text({'h', 'i'});
  EXPECT_EQ(std::string(text.begin(), text.end()), "hi");
  auto v2 = roundtrip(v);
  v2.set_value(9);
  EXPECT_EQ(v.value(), 9);
  auto a2 = roundtrip(a);
  EXPECT_EQ(a2[1], 5);
}

TEST(MpRaw, AChildsWritesAreSeenByTheParent) {
  mp::RawValue<int> v(0);
  mp::RawArray<int> a(100);
  pid_t child = fork_child([&] {
    v.set_value(42);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<int>(i);
    return 0;
  });
  EXPECT_EQ(join(child), 0);
  EXPECT_EQ(v.value(), 42);
  EXPECT_EQ(a[99], 99);
}

TEST(MpRaw, LoadingATruncatedPickleIsValueError) {
  mp::RawArray<int> a(3);
  auto bytes = pyconc::pickle::dumps(a);
  bytes.resize(bytes.size() / 2);
  EXPECT_THROW(pyconc::pickle::loads<mp::RawArray<int>>(bytes), pyconc::ValueError);
}

}  // namespace
