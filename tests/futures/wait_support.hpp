// Helpers of the futures::wait and futures::as_completed tests.
#pragma once

#include <gtest/gtest.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <pyconc/errors.hpp>
#include <pyconc/futures.hpp>
#include <pyconc/threading.hpp>

#include "support.hpp"

namespace futures = pyconc::futures;
namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::Clock;
using pyconc_test::asleep_in_futex;
using pyconc_test::eventually;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;
using Fut = futures::Future<int>;
using Futs = std::vector<Fut>;

namespace wait_test {

/// Runs a blocking call in its own thread and keeps what it returned and when.
template <class R>
class InThread {
 public:
  explicit InThread(std::function<R()> call)
      : thread_([this, call = std::move(call)] {
          tid_ = threading::get_native_id();
          R r = call();
          returned_at_ = Clock::now();
          result_ = std::move(r);
          returned_ = true;
        }) {}
  ~InThread() { join(); }
  InThread(const InThread&) = delete;
  InThread& operator=(const InThread&) = delete;

  /// Waits until the thread sleeps in a futex, i.e. blocked in the call.
  bool asleep() const {
    return eventually([&] { return tid_.load() != 0 && asleep_in_futex(tid_.load()); }, kPrompt * 1s);
  }
  bool returned() const { return returned_.load(); }
  /// Joins; then the result and the time it came back.
  R& result() {
    join();
    return *result_;
  }
  Clock::time_point returned_at() {
    join();
    return returned_at_;
  }

 private:
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  std::atomic<long> tid_{0};
  std::atomic<bool> returned_{false};
  Clock::time_point returned_at_;
  std::optional<R> result_;
  std::thread thread_;
};

inline Fut finished(int value) {
  Fut f;
  f.set_result(value);
  return f;
}

inline Fut failed(const std::string& why) {
  Fut f;
  f.set_exception(std::make_exception_ptr(pyconc::ValueError(why)));
  return f;
}

/// A future cancelled and noticed by its (imaginary) executor: done for wait().
inline Fut cancelled_and_notified() {
  Fut f;
  f.cancel();
  f.set_running_or_notify_cancel();
  return f;
}

inline Futs pending(int n) { return Futs(static_cast<std::size_t>(n)); }

/// Pretty-printable identity check of two lists of futures.
inline ::testing::AssertionResult same(const Futs& got, const Futs& want) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << ", want " << want.size();
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!(got[i] == want[i])) return ::testing::AssertionFailure() << "differs at " << i;
  return ::testing::AssertionSuccess();
}

using Waited = futures::DoneAndNotDone<int>;

/// Sets every event when destroyed, so that blocked tasks end even if a test fails.
class SetOnExit {
 public:
  explicit SetOnExit(std::vector<std::shared_ptr<threading::Event>>& events) : events_(events) {}
  SetOnExit(const SetOnExit&) = delete;
  SetOnExit& operator=(const SetOnExit&) = delete;
  ~SetOnExit() {
    for (auto& e : events_) e->set();
  }

 private:
  std::vector<std::shared_ptr<threading::Event>>& events_;
};

}  // namespace wait_test
