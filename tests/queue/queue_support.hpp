// Helpers shared by the queue tests: a thread's sleep inside a queue, and elements that
// keep a ledger of their lives (the test_*.cpp here).
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "support.hpp"

namespace pyconc_test {

/// True once the thread `tid` sleeps on a futex inside the queue object `q`.
template <class Q>
bool asleep_in_queue(const std::atomic<long>& tid, const Q& q) {
  return asleep_in_futex(tid.load(), &q, sizeof q);
}

/// Records every live object's address: a double destruction, a destruction of something
/// never constructed, or a leak shows up as an error or a nonzero live().
class Ledger {
 public:
  void born(const void* p) {
    std::lock_guard<std::mutex> guard(mutex_);
    if (!alive_.insert(p).second) ++errors_;
    ++constructed_;
  }
  void died(const void* p) {
    std::lock_guard<std::mutex> guard(mutex_);
    if (alive_.erase(p) != 1) ++errors_;
    ++destroyed_;
  }
  std::size_t live() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return alive_.size();
  }
  int errors() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return errors_;
  }
  int constructed() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return constructed_;
  }
  int destroyed() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return destroyed_;
  }

 private:
  mutable std::mutex mutex_;
  std::set<const void*> alive_;
  int errors_ = 0;
  int constructed_ = 0;
  int destroyed_ = 0;
};

/// A move-only value with a non-trivial destructor, tracked by a Ledger. A moved-from
/// value reads -1; values order by value (for the priority queues).
class Tracked {
 public:
  Tracked(Ledger& ledger, int value) : ledger_(&ledger), value_(value) { ledger_->born(this); }
  Tracked(Tracked&& other) noexcept : ledger_(other.ledger_), value_(other.value_) {
    other.value_ = -1;
    ledger_->born(this);
  }
  Tracked& operator=(Tracked&& other) noexcept {
    value_ = other.value_;
    return *this;
  }
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  ~Tracked() { ledger_->died(this); }
  int value() const { return value_; }
  friend bool operator<(const Tracked& a, const Tracked& b) { return a.value_ < b.value_; }

 private:
  Ledger* ledger_;
  int value_;
};

/// Orders owned ints by value (a priority queue of unique_ptr).
struct DerefLess {
  bool operator()(const std::unique_ptr<int>& a, const std::unique_ptr<int>& b) const { return *a < *b; }
};

/// Bounded (ring, power of two and not) and unbounded (0 and negative) sizes, for
/// INSTANTIATE_TEST_SUITE_P(Sizes, QueueBySize, kQueueSizes, queue_size_name).
class QueueBySize : public ::testing::TestWithParam<long long> {};

inline const auto kQueueSizes = ::testing::Values(0LL, -1LL, 1LL, 3LL, 5LL, 1024LL);

inline std::string queue_size_name(const ::testing::TestParamInfo<long long>& info) {
  return info.param < 0 ? "minus" + std::to_string(-info.param) : "max" + std::to_string(info.param);
}

}  // namespace pyconc_test
