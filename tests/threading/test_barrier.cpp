// Tests for threading::Barrier (Python's threading.Barrier).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <pyconc/errors.hpp>
#include <pyconc/threading.hpp>

#include "support.hpp"

namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::Clock;
using pyconc_test::eventually;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;

namespace {

/// How a wait() ended.
enum class Outcome { pending, passed, broken, other_error };

/// Runs `barrier.wait()` (or wait(timeout)) in a thread and records how it ended.
class Party {
 public:
  explicit Party(threading::Barrier& barrier, std::optional<pyconc::Seconds> timeout = std::nullopt)
      : thread_([this, &barrier, timeout] {
          try {
            index_ = timeout ? barrier.wait(*timeout) : barrier.wait();
            outcome_ = Outcome::passed;
          } catch (const pyconc::BrokenBarrierError&) {
            outcome_ = Outcome::broken;
          } catch (const std::exception& e) {
            message_ = e.what();
            outcome_ = Outcome::other_error;
          }
        }) {}
  ~Party() { join(); }
  Party(const Party&) = delete;
  Party& operator=(const Party&) = delete;

  void join() {
    if (thread_.joinable()) thread_.join();
  }
  Outcome outcome() const { return outcome_.load(); }
  std::size_t index() const { return index_; }
  const std::string& message() const { return message_; }

 private:
  std::atomic<Outcome> outcome_{Outcome::pending};
  std::size_t index_ = 0;
  std::string message_;
  std::thread thread_;
};

/// Runs one full cycle of `barrier` with `parties` fresh threads; returns the sorted
/// indices they got (empty entries for those that failed).
std::vector<std::size_t> full_cycle(threading::Barrier& barrier, std::size_t parties) {
  std::vector<std::unique_ptr<Party>> threads;
  for (std::size_t i = 0; i < parties; ++i)
    threads.push_back(std::make_unique<Party>(barrier, pyconc::Seconds(30)));
  std::vector<std::size_t> indices;
  for (auto& p : threads) {
    p->join();
    if (p->outcome() == Outcome::passed) indices.push_back(p->index());
  }
  std::sort(indices.begin(), indices.end());
  return indices;
}

std::vector<std::size_t> iota(std::size_t n) {
  std::vector<std::size_t> v(n);
  std::iota(v.begin(), v.end(), std::size_t{0});
  return v;
}

}  // namespace

static_assert(std::is_base_of_v<pyconc::RuntimeError, pyconc::BrokenBarrierError>);
static_assert(!std::is_copy_constructible_v<threading::Barrier>);

TEST(Barrier, PartiesBelowOneIsValueError) {
  EXPECT_THROW(threading::Barrier(0), pyconc::ValueError);
  EXPECT_THROW(threading::Barrier(0, [] {}, 1s), pyconc::ValueError);
}

TEST(Barrier, NegativePartiesIsValueErrorNotAHugeBarrier) {
  // Python's Barrier(-1) raises ValueError; a count that wrapped to 2^64-1 would make a
  // barrier that never trips.
  EXPECT_EQ(pyconc_test::message_of<pyconc::ValueError>([] { threading::Barrier b(-1); }), "parties must be > 0");
  EXPECT_EQ(pyconc_test::message_of<pyconc::ValueError>([] { threading::Barrier b(0); }), "parties must be > 0");
  int parties = -5;
  EXPECT_THROW(threading::Barrier(parties, [] {}, 1s), pyconc::ValueError);
  // Counts of every integer type are accepted as Python's int is.
  std::size_t n = 2;
  threading::Barrier from_size(n);
  EXPECT_EQ(from_size.parties(), 2u);
}

TEST(Barrier, Accessors) {
  threading::Barrier barrier(3);
  EXPECT_EQ(barrier.parties(), 3u);
  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_FALSE(barrier.broken());
}

TEST(Barrier, SinglePartyPassesAtOnce) {
  int actions = 0;
  threading::Barrier barrier(1, [&] { ++actions; });
  auto start = Clock::now();
  EXPECT_EQ(barrier.wait(), 0u);
  EXPECT_EQ(barrier.wait(), 0u);
  // The last party never waits, so even a timeout that allows no wait is fine.
  EXPECT_EQ(barrier.wait(0s), 0u);
  EXPECT_EQ(barrier.wait(-1s), 0u);
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_EQ(actions, 4);
  EXPECT_FALSE(barrier.broken());
}

TEST(Barrier, NWaitingCountsTheWaiters) {
  threading::Barrier barrier(3);
  Party first(barrier, 30s);
  EXPECT_TRUE(eventually([&] { return barrier.n_waiting() == 1; }));
  Party second(barrier, 30s);
  EXPECT_TRUE(eventually([&] { return barrier.n_waiting() == 2; }));
  EXPECT_EQ(first.outcome(), Outcome::pending);
  EXPECT_EQ(second.outcome(), Outcome::pending);
  EXPECT_EQ(barrier.wait(30s), 2u);  // arrived last
  first.join();
  second.join();
  EXPECT_EQ(first.outcome(), Outcome::passed);
  EXPECT_EQ(second.outcome(), Outcome::passed);
  EXPECT_EQ(first.index(), 0u);  // indices are the arrival order
  EXPECT_EQ(second.index(), 1u);
  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_FALSE(barrier.broken());
}

TEST(Barrier, IndicesAreDistinctInEveryCycle) {
  constexpr std::size_t kParties = 5;
  constexpr int kCycles = 50;
  threading::Barrier barrier(kParties, {}, 30s);
  std::vector<std::vector<std::size_t>> indices(kCycles, std::vector<std::size_t>(kParties));
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < kParties; ++t) {
    threads.emplace_back([&, t] {
      for (int c = 0; c < kCycles; ++c) {
        try {
          indices[c][t] = barrier.wait();
        } catch (...) {
          errors.fetch_add(1);
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(errors.load(), 0);
  for (int c = 0; c < kCycles; ++c) {
    auto sorted = indices[c];
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, iota(kParties)) << "cycle " << c;
  }
  EXPECT_FALSE(barrier.broken());
  EXPECT_EQ(barrier.n_waiting(), 0u);
}

TEST(Barrier, ActionRunsOncePerCycleInTheLastThreadBeforeAnyRelease) {
  constexpr std::size_t kParties = 4;
  constexpr int kCycles = 100;
  std::atomic<int> actions{0};
  std::atomic<int> returned{0};  // waits that have returned, over all cycles
  std::atomic<int> early_releases{0};
  std::vector<std::thread::id> action_thread(kCycles);
  std::vector<std::thread::id> last_thread(kCycles);
  threading::Barrier barrier(kParties, [&] {
    int cycle = actions.load();
    // Every wait of the earlier cycles has returned, none of this one.
    if (returned.load() != cycle * static_cast<int>(kParties)) early_releases.fetch_add(1);
    action_thread[cycle] = std::this_thread::get_id();
    actions.fetch_add(1);
  }, 30s);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < kParties; ++t) {
    threads.emplace_back([&] {
      for (int c = 0; c < kCycles; ++c) {
        std::size_t index = 0;
        try {
          index = barrier.wait();
        } catch (...) {
          errors.fetch_add(1);
          return;
        }
        if (actions.load() != c + 1) errors.fetch_add(1);  // the action ran before release
        if (index == kParties - 1) last_thread[c] = std::this_thread::get_id();
        returned.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(early_releases.load(), 0);
  EXPECT_EQ(actions.load(), kCycles);
  for (int c = 0; c < kCycles; ++c) EXPECT_EQ(action_thread[c], last_thread[c]) << "cycle " << c;
}

TEST(Barrier, ReusableAndPublishesWritesToEveryParty) {
  // Each cycle: every party writes its slot, waits, reads every slot, waits. Plain data:
  // ThreadSanitizer checks that the barrier orders the accesses.
  constexpr std::size_t kParties = 4;
  constexpr int kCycles = 300;
  threading::Barrier barrier(kParties);
  std::vector<long> slots(kParties, 0);
  std::atomic<int> wrong{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < kParties; ++t) {
    threads.emplace_back([&, t] {
      for (int c = 0; c < kCycles; ++c) {
        slots[t] = c * 100 + static_cast<long>(t);
        try {
          if (barrier.wait(30s) >= kParties) errors.fetch_add(1);
          long sum = std::accumulate(slots.begin(), slots.end(), 0L);
          long expected = static_cast<long>(kParties) * c * 100 +
                          static_cast<long>(kParties * (kParties - 1) / 2);
          if (sum != expected) wrong.fetch_add(1);
          barrier.wait(30s);
        } catch (...) {
          errors.fetch_add(1);
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_FALSE(barrier.broken());
}

TEST(Barrier, DefaultTimeoutBreaksTheBarrier) {
  threading::Barrier barrier(2, {}, 50ms);
  auto start = Clock::now();
  EXPECT_THROW(barrier.wait(), pyconc::BrokenBarrierError);
  double elapsed = seconds_since(start);
  EXPECT_GE(elapsed, 0.045);
  EXPECT_LT(elapsed, kPrompt);
  EXPECT_TRUE(barrier.broken());
  EXPECT_EQ(barrier.n_waiting(), 0u);
  // Later waiters fail at once, whatever their timeout.
  start = Clock::now();
  EXPECT_THROW(barrier.wait(), pyconc::BrokenBarrierError);
  EXPECT_THROW(barrier.wait(30s), pyconc::BrokenBarrierError);
  EXPECT_LT(seconds_since(start), kPrompt);
}

TEST(Barrier, DefaultTimeoutDoesNotHurtACycleThatCompletes) {
  threading::Barrier barrier(3, {}, 30s);
  EXPECT_EQ(full_cycle(barrier, 3), iota(3));
  EXPECT_EQ(full_cycle(barrier, 3), iota(3));
  EXPECT_FALSE(barrier.broken());
}

TEST(Barrier, WaitTimeoutBreaksItForEveryWaiter) {
  threading::Barrier barrier(3);
  Party other(barrier);  // no timeout of its own
  ASSERT_TRUE(eventually([&] { return barrier.n_waiting() == 1; }));
  auto start = Clock::now();
  EXPECT_THROW(barrier.wait(50ms), pyconc::BrokenBarrierError);
  double elapsed = seconds_since(start);
  other.join();
  EXPECT_GE(elapsed, 0.045);
  EXPECT_LT(elapsed, kPrompt);
  EXPECT_EQ(other.outcome(), Outcome::broken);
  EXPECT_TRUE(barrier.broken());
  EXPECT_THROW(barrier.wait(30s), pyconc::BrokenBarrierError);
}

TEST(Barrier, WaitTimeoutOverridesTheDefault) {
  threading::Barrier barrier(2, {}, 30s);
  auto start = Clock::now();
  EXPECT_THROW(barrier.wait(50ms), pyconc::BrokenBarrierError);
  double elapsed = seconds_since(start);
  EXPECT_GE(elapsed, 0.045);
  EXPECT_LT(elapsed, kPrompt);
  EXPECT_TRUE(barrier.broken());
}

TEST(Barrier, NonPositiveTimeoutBreaksAtOnce) {
  for (pyconc::Seconds timeout : {pyconc::Seconds(-1), pyconc::Seconds(0)}) {
    threading::Barrier barrier(2);
    auto start = Clock::now();
    EXPECT_THROW(barrier.wait(timeout), pyconc::BrokenBarrierError);
    EXPECT_LT(seconds_since(start), kPrompt);
    EXPECT_TRUE(barrier.broken());
  }
}

TEST(Barrier, TimeoutAboveTimeoutMaxIsOverflowError) {
  threading::Barrier barrier(2);
  EXPECT_THROW(barrier.wait(threading::TIMEOUT_MAX * 2), pyconc::OverflowError);
  EXPECT_FALSE(barrier.broken());
  EXPECT_EQ(barrier.n_waiting(), 0u);
}

TEST(Barrier, AbortWakesEveryWaiter) {
  threading::Barrier barrier(3);
  Party a(barrier, 30s), b(barrier, 30s);
  ASSERT_TRUE(eventually([&] { return barrier.n_waiting() == 2; }));
  auto start = Clock::now();
  barrier.abort();
  a.join();
  b.join();
  EXPECT_LT(seconds_since(start), kPrompt);
  EXPECT_EQ(a.outcome(), Outcome::broken);
  EXPECT_EQ(b.outcome(), Outcome::broken);
  EXPECT_TRUE(barrier.broken());
  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_THROW(barrier.wait(30s), pyconc::BrokenBarrierError);
}

TEST(Barrier, AbortBeforeAnyWait) {
  threading::Barrier barrier(2);
  barrier.abort();
  EXPECT_TRUE(barrier.broken());
  EXPECT_THROW(barrier.wait(), pyconc::BrokenBarrierError);
  barrier.abort();  // again: still just broken
  EXPECT_TRUE(barrier.broken());
}

TEST(Barrier, ResetWhileThreadsWaitBreaksTheirWaitThenTheBarrierWorks) {
  threading::Barrier barrier(3);
  {
    Party a(barrier, 30s), b(barrier, 30s);
    ASSERT_TRUE(eventually([&] { return barrier.n_waiting() == 2; }));
    barrier.reset();
    a.join();
    b.join();
    EXPECT_EQ(a.outcome(), Outcome::broken);
    EXPECT_EQ(b.outcome(), Outcome::broken);
  }
  EXPECT_FALSE(barrier.broken());
  EXPECT_EQ(barrier.n_waiting(), 0u);
  EXPECT_EQ(full_cycle(barrier, 3), iota(3));
  EXPECT_EQ(full_cycle(barrier, 3), iota(3));
}

TEST(Barrier, ResetRepairsABrokenBarrier) {
  threading::Barrier barrier(2);
  barrier.abort();
  ASSERT_TRUE(barrier.broken());
  barrier.reset();
  EXPECT_FALSE(barrier.broken());
  EXPECT_EQ(full_cycle(barrier, 2), iota(2));

  // Broken by a timeout, then repaired.
  EXPECT_THROW(barrier.wait(10ms), pyconc::BrokenBarrierError);
  ASSERT_TRUE(barrier.broken());
  barrier.reset();
  EXPECT_FALSE(barrier.broken());
  EXPECT_EQ(full_cycle(barrier, 2), iota(2));
}

TEST(Barrier, ResetOfAnIdleBarrierIsHarmless) {
  threading::Barrier barrier(2);
  barrier.reset();
  EXPECT_FALSE(barrier.broken());
  EXPECT_EQ(full_cycle(barrier, 2), iota(2));
  barrier.reset();
  EXPECT_EQ(full_cycle(barrier, 2), iota(2));
}

TEST(Barrier, ResetWhileBrokenWithWaitersStillThere) {
  // abort() then reset() before the woken waiters have left: they still get
  // BrokenBarrierError, and the barrier is usable once they are gone.
  threading::Barrier barrier(3);
  {
    Party a(barrier, 30s), b(barrier, 30s);
    ASSERT_TRUE(eventually([&] { return barrier.n_waiting() == 2; }));
    barrier.abort();
    barrier.reset();
    a.join();
    b.join();
    EXPECT_EQ(a.outcome(), Outcome::broken);
    EXPECT_EQ(b.outcome(), Outcome::broken);
  }
  EXPECT_FALSE(barrier.broken());
  EXPECT_EQ(full_cycle(barrier, 3), iota(3));
}

TEST(Barrier, ActionThatThrowsBreaksTheBarrier) {
  std::atomic<bool> fail{true};
  std::atomic<int> actions{0};
  threading::Barrier barrier(3, [&] {
    actions.fetch_add(1);
    if (fail.exchange(false)) throw std::runtime_error("action failed");
  });
  {
    Party a(barrier, 30s), b(barrier, 30s);
    ASSERT_TRUE(eventually([&] { return barrier.n_waiting() == 2; }));
    // We arrive last, so the action runs here and its exception comes out here.
    try {
      barrier.wait(30s);
      ADD_FAILURE() << "the action's exception did not propagate";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "action failed");
    }
    a.join();
    b.join();
    EXPECT_EQ(a.outcome(), Outcome::broken);
    EXPECT_EQ(b.outcome(), Outcome::broken);
  }
  EXPECT_EQ(actions.load(), 1);
  EXPECT_TRUE(barrier.broken());
  EXPECT_THROW(barrier.wait(30s), pyconc::BrokenBarrierError);
  barrier.reset();
  EXPECT_EQ(full_cycle(barrier, 3), iota(3));
  EXPECT_EQ(actions.load(), 2);
}

TEST(Barrier, ActionThrowingAPyconcErrorKeepsItsType) {
  threading::Barrier barrier(2, [] { throw pyconc::ValueError("bad value"); });
  Party other(barrier, 30s);
  ASSERT_TRUE(eventually([&] { return barrier.n_waiting() == 1; }));
  EXPECT_THROW(barrier.wait(30s), pyconc::ValueError);
  other.join();
  EXPECT_EQ(other.outcome(), Outcome::broken);
  EXPECT_TRUE(barrier.broken());
}

TEST(Barrier, StressManyCyclesWithAction) {
  constexpr std::size_t kParties = 6;
  constexpr int kCycles = 500;
  long action_count = 0;    // plain: only the action touches it, under the barrier
  long sum_of_indices = 0;  // guarded by the barrier's cycles through the action
  std::atomic<long> index_total{0};
  threading::Barrier barrier(kParties, [&] {
    ++action_count;
    sum_of_indices += static_cast<long>(kParties * (kParties - 1) / 2);
  });
  std::atomic<int> errors{0};
  std::latch start(kParties);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < kParties; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int c = 0; c < kCycles; ++c) {
        try {
          index_total.fetch_add(static_cast<long>(barrier.wait(30s)));
        } catch (...) {
          errors.fetch_add(1);
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(action_count, kCycles);
  EXPECT_EQ(index_total.load(), sum_of_indices);
  EXPECT_FALSE(barrier.broken());
}
