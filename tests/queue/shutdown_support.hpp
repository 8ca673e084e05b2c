// The queue kinds that the typed shutdown tests run over, and a blocked caller whose
// outcome is kept (test_shutdown.cpp, test_shutdown_wakeups.cpp).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include <pyconc/queue.hpp>

#include "queue/queue_support.hpp"
#include "support.hpp"

namespace pyconc_test {

/// The queue kinds under test. `make<T>()` builds one; `order(in)` is the order in which
/// the items `in` come out.
template <class T>
using Fifo = pyconc::queue::Queue<T>;
template <class T>
using Lifo = pyconc::queue::LifoQueue<T>;
template <class T>
using Prio = pyconc::queue::PriorityQueue<T>;
template <class T>
using PrioPtr = pyconc::queue::PriorityQueue<T, DerefLess>;

struct FifoBounded {
  template <class T>
  using Q = Fifo<T>;
  template <class T>
  using QPtr = Fifo<T>;
  static constexpr long long maxsize = 4;
  static std::vector<int> order(std::vector<int> in) { return in; }
};
struct FifoUnbounded : FifoBounded {
  static constexpr long long maxsize = 0;
};
struct FifoPowerOfTwoLarge : FifoBounded {
  static constexpr long long maxsize = 1024;
};
struct FifoOdd : FifoBounded {
  static constexpr long long maxsize = 3;
};
struct LifoBounded {
  template <class T>
  using Q = Lifo<T>;
  template <class T>
  using QPtr = Lifo<T>;
  static constexpr long long maxsize = 4;
  static std::vector<int> order(std::vector<int> in) { return {in.rbegin(), in.rend()}; }
};
struct LifoUnbounded : LifoBounded {
  static constexpr long long maxsize = 0;
};
struct PrioBounded {
  template <class T>
  using Q = Prio<T>;
  template <class T>
  using QPtr = PrioPtr<T>;
  static constexpr long long maxsize = 4;
  static std::vector<int> order(std::vector<int> in) {
    std::sort(in.begin(), in.end());
    return in;
  }
};
struct PrioUnbounded : PrioBounded {
  static constexpr long long maxsize = 0;
};

template <class Kind>
class Shutdown : public ::testing::Test {};

using Kinds = ::testing::Types<FifoBounded, FifoUnbounded, FifoPowerOfTwoLarge, FifoOdd, LifoBounded,
                               LifoUnbounded, PrioBounded, PrioUnbounded>;

class KindNames {
 public:
  template <class T>
  static std::string GetName(int) {
    if (std::is_same_v<T, FifoBounded>) return "QueueMax4";
    if (std::is_same_v<T, FifoUnbounded>) return "QueueUnbounded";
    if (std::is_same_v<T, FifoPowerOfTwoLarge>) return "QueueMax1024";
    if (std::is_same_v<T, FifoOdd>) return "QueueMax3";
    if (std::is_same_v<T, LifoBounded>) return "LifoQueueMax4";
    if (std::is_same_v<T, LifoUnbounded>) return "LifoQueueUnbounded";
    if (std::is_same_v<T, PrioBounded>) return "PriorityQueueMax4";
    return "PriorityQueueUnbounded";
  }
};


/// A thread blocked in a queue call, with the outcome kept: the value, or which
/// exception.
struct Outcome {
  static constexpr int kNone = -100, kShutDown = -1, kEmpty = -2, kFull = -3, kOther = -4;
};

template <class Fn>
std::thread spawn_blocker(std::atomic<long>& tid, std::atomic<int>& outcome, std::atomic<double>& waited_after,
                          const std::atomic<bool>& shutdown_called, Clock::time_point& shutdown_time, Fn fn) {
  return std::thread([&tid, &outcome, &waited_after, &shutdown_called, &shutdown_time, fn] {
    tid = gettid();
    int r = Outcome::kNone;
    try {
      r = fn();
    } catch (const pyconc::queue::ShutDown&) {
      r = Outcome::kShutDown;
    } catch (const pyconc::queue::Empty&) {
      r = Outcome::kEmpty;
    } catch (const pyconc::queue::Full&) {
      r = Outcome::kFull;
    } catch (...) {
      r = Outcome::kOther;
    }
    if (shutdown_called.load()) waited_after = seconds_since(shutdown_time);
    outcome = r;
  });
}

}  // namespace pyconc_test
