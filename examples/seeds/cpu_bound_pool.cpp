// cpu_bound_pool — count the primes below 2,000,000 in 20 chunks on a ThreadPoolExecutor
// and on one thread. Without a GIL the chunks run on every core: the speedup approaches
// the number of free cores (CPython's stays near 1x). Shows: ThreadPoolExecutor() with
// the default max_workers, map() over two ranges (zipped, as map(fn, *iterables)), its
// results in input order, the `with` block as the executor's scope. Exits with 1 if the
// counts differ; the times vary by machine.
//
// The Python original:
//
//     import concurrent.futures
//     import os
//     import time
//
//     def count_primes(lo, hi):             # trial division, as the demo's
//         count = 0
//         for k in range(max(lo, 2), hi):
//             i = 2
//             while i * i <= k and k % i != 0:
//                 i += 1
//             count += i * i > k            # no divisor up to sqrt(k): prime
//         return count
//
//     LIMIT, CHUNK = 2_000_000, 100_000
//     start = time.perf_counter()
//     serial = count_primes(0, LIMIT)
//     serial_time = time.perf_counter() - start
//
//     start = time.perf_counter()
//     with concurrent.futures.ThreadPoolExecutor() as ex:
//         bounds = range(0, LIMIT + 1, CHUNK)
//         pooled = sum(ex.map(count_primes, bounds[:-1], bounds[1:]))
//     pool_time = time.perf_counter() - start
//
//     print(f"1 thread: {serial} primes in {serial_time:.2f} s")
//     print(f"pool:     {pooled} primes in {pool_time:.2f} s, {LIMIT // CHUNK} chunks")
//     print(f"speedup: {serial_time / pool_time:.2f}x on {os.cpu_count()} CPUs")
//     assert pooled == serial
#include <pyconc/futures.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

namespace futures = pyconc::futures;
using Clock = std::chrono::steady_clock;

long count_primes(long lo, long hi) {
  long count = 0;
  for (long k = std::max(lo, 2L); k < hi; ++k) {
    long i = 2;
    while (i * i <= k && k % i != 0) i += 1;
    count += i * i > k;  // no divisor up to sqrt(k): prime
  }
  return count;
}

int main() {
  constexpr long LIMIT = 2'000'000, CHUNK = 100'000;
  auto start = Clock::now();
  long serial = count_primes(0, LIMIT);
  pyconc::Seconds serial_time = Clock::now() - start;

  start = Clock::now();
  long pooled = 0;
  {
    futures::ThreadPoolExecutor ex;
    std::vector<long> lows, highs;  // bounds[:-1] and bounds[1:]
    for (long lo = 0; lo < LIMIT; lo += CHUNK) {
      lows.push_back(lo);
      highs.push_back(lo + CHUNK);
    }
    for (long n : ex.map(count_primes, lows, highs)) pooled += n;
  }
  pyconc::Seconds pool_time = Clock::now() - start;

  std::printf("1 thread: %ld primes in %.2f s\n", serial, serial_time.count());
  std::printf("pool:     %ld primes in %.2f s, %ld chunks\n", pooled, pool_time.count(), LIMIT / CHUNK);
  std::printf("speedup: %.2fx on %u CPUs\n", serial_time / pool_time, std::thread::hardware_concurrency());
  return pooled == serial ? 0 : 1;  // assert
}
