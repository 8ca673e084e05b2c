// Helpers shared by the tests of threading's locks (Lock, RLock, Semaphore, Condition):
// checks that hold for any of them through acquire/release alone.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <thread>
#include <vector>

#include <pyconc/threading.hpp>

#include "support.hpp"

// These helpers take and release a lock in another thread or hand it between lambdas:
// clang's static lock analysis cannot follow that, so it is switched off for them.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wthread-safety-analysis"
#endif

namespace pyconc_test {

/// Runs `acquire(false)` on `lock` in another thread (releasing it there if it got it):
/// whether the lock could be taken by another thread now.
template <class L>
bool acquirable_elsewhere(L& lock) {
  bool got = false;
  std::thread t([&] {
    got = lock.acquire(false);
    if (got) lock.release();
  });
  t.join();
  return got;
}

/// Expects `attempt` (an acquire with a 50 ms timeout of a lock nobody will release) to
/// fail, after about 50 ms and promptly.
template <class F>
void expect_times_out_after_50ms(F attempt) {
  auto start = Clock::now();
  EXPECT_FALSE(attempt());
  double elapsed = seconds_since(start);
  EXPECT_GE(elapsed, 0.045);
  EXPECT_LT(elapsed, kPrompt);
}

/// Python's classic hand-off over two binary signals, `rounds` times: this thread
/// releases `ping` and acquires `pong`, another acquires `ping` and releases `pong`, so
/// every wake-up crosses threads. Both start unavailable; a counter handed back and forth
/// checks the ordering (ThreadSanitizer checks it too). On return the other thread has
/// made its last acquire of `ping`, and this thread holds `pong`.
template <class L>
void ping_pong(L& ping, L& pong, int rounds) {
  long shared = 0;
  std::atomic<int> failures{0};
  std::thread other([&] {
    for (int n = 0; n < rounds; ++n) {
      if (!ping.acquire(true, 30s)) {
        failures.fetch_add(1);
        return;
      }
      ++shared;  // published by pong.release()
      pong.release();
    }
  });
  for (int n = 0; n < rounds; ++n) {
    ping.release();
    if (!pong.acquire(true, 30s)) {
      failures.fetch_add(1);
      break;
    }
    EXPECT_EQ(shared, n + 1);
  }
  other.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(shared, rounds);
}

/// Races `timed` threads that acquire `lock` with tiny timeouts (on a time-out, retrying
/// with the next one) against `patient` threads that wait up to 30 s, `iterations`
/// acquires each, all starting together; after each acquire it calls `holding()`, then
/// releases. Returns how many patient acquires failed: a timed-out waiter that swallowed
/// the wake-up meant for another would make one fail.
template <class L, class F>
int race_timed_and_patient_acquires(L& lock, int timed, int patient, int iterations, F holding) {
  std::atomic<int> patient_failures{0};
  std::latch start(timed + patient);
  std::vector<std::thread> threads;
  for (int i = 0; i < timed; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      const pyconc::Seconds tiny[] = {0s, 1us, 20us, 200us, 1ms};
      for (int n = 0; n < iterations; ++n) {
        int k = (n + i) % 5;
        while (!lock.acquire(true, tiny[k])) k = (k + 1) % 5;
        holding();
        lock.release();
      }
    });
  }
  for (int i = 0; i < patient; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int n = 0; n < iterations; ++n) {
        if (!lock.acquire(true, 30s)) {
          patient_failures.fetch_add(1);
          continue;
        }
        holding();
        lock.release();
      }
    });
  }
  for (auto& t : threads) t.join();
  return patient_failures.load();
}

}  // namespace pyconc_test

#if defined(__clang__)
#pragma clang diagnostic pop
#endif
