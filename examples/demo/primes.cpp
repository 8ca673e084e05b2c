// Section 2 of the demo, what the GIL never allowed: the primes below 5,000,000 counted
// by trial division on one thread and on two threading::Threads (best of 3 rounds each),
// and the speedup. In CPython the GIL lets one thread run Python code at a time: two
// threads gain nothing (why_pyconc.cpp measures it in the same run).
#include <pyconc/threading.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <thread>

#include "demo.hpp"

namespace demo {

namespace threading = pyconc::threading;

// The same function as count_primes in bench/peers/python_workloads.py:
//
//     def count_primes(lo, hi):
//         count = 0
//         for k in range(max(lo, 2), hi):
//             i = 2
//             while i * i <= k:
//                 if k % i == 0:
//                     break
//                 i += 1
//             else:
//                 count += 1
//         return count
long count_primes(long lo, long hi) {
  long count = 0;
  for (long k = std::max(lo, 2L); k < hi; ++k) {
    long i = 2;
    bool divisible = false;
    while (i * i <= k) {
      if (k % i == 0) {
        divisible = true;
        break;
      }
      i += 1;
    }
    if (!divisible) count += 1;
  }
  return count;
}

namespace {

constexpr const char* kPythonCountPrimes =
    "def count_primes(lo, hi):\n"
    "       count = 0\n"
    "       for k in range(max(lo, 2), hi):\n"
    "           i = 2\n"
    "           while i * i <= k:\n"
    "               if k % i == 0:\n"
    "                   break\n"
    "               i += 1\n"
    "           else:\n"
    "               count += 1\n"
    "       return count";

constexpr long kPrimesBelowLimit = 348'513;  // known: pi(5,000,000)
// Larger numbers take longer to test, so equal work is not equal length: [0, 3M) costs
// about what [3M, 5M) costs.
constexpr long kSplit = 3'000'000;

}  // namespace

std::string with_commas(long n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

Run one_thread(long limit) {
  auto start = Clock::now();
  long count = count_primes(0, limit);
  return {count, Clock::now() - start};
}

namespace {

Run two_threads(long limit, long split) {
  // results = [0, 0]
  // def job(i, lo, hi): results[i] = count_primes(lo, hi)
  // threads = [Thread(target=job, args=(0, 0, SPLIT)), Thread(target=job, args=(1, SPLIT, LIMIT))]
  std::array<long, 2> results{};
  auto job = [&results](int i, long lo, long hi) { results[i] = count_primes(lo, hi); };
  auto start = Clock::now();
  threading::Thread low(job, 0, 0L, split);
  threading::Thread high(job, 1, split, limit);
  low.start();
  high.start();
  low.join();
  high.join();
  return {results[0] + results[1], Clock::now() - start};
}

}  // namespace

bool primes_on_two_threads(CpuFigures& best) {
  std::printf("\n== What the GIL never allowed: CPU-bound code on two threads ==\n");
  std::printf("   count the primes below %s by trial division: this Python function, ported\n\n",
              with_commas(kLimit).c_str());
  std::printf("   %s\n\n", kPythonCountPrimes);
  std::fflush(stdout);

  // Rounds alternate, and the best time of each counts: a moment when other programs
  // take the cores then spoils a round, not the comparison.
  bool agree = true;
  Run& serial = best.serial;
  Run& parallel = best.parallel;
  for (int round = 0; round < kRounds; ++round) {
    Run s = one_thread(kLimit);
    Run p = two_threads(kLimit, kSplit);
    if (s.count != kPrimesBelowLimit || p.count != kPrimesBelowLimit) {
      std::printf("   FAILED: the counts disagree (1 thread: %ld, 2 threads: %ld, expected %ld)\n",
                  s.count, p.count, kPrimesBelowLimit);
      agree = false;
    }
    if (s.time < serial.time) serial = s;
    if (p.time < parallel.time) parallel = p;
  }
  std::printf("   best of %d rounds:\n", kRounds);
  std::printf("   1 thread:                %s primes in %.2f s\n", with_commas(serial.count).c_str(),
              serial.time.count());
  std::printf("   2 threading::Threads:    %s primes in %.2f s   ([0, %s) and [%s, %s): equal work)\n",
              with_commas(parallel.count).c_str(), parallel.time.count(), with_commas(kSplit).c_str(),
              with_commas(kSplit).c_str(), with_commas(kLimit).c_str());

  unsigned cores = std::thread::hardware_concurrency();
  double speedup = serial.time / parallel.time;
  std::printf("   speedup: %.2fx with 2 threads, on %u core%s (std::thread::hardware_concurrency())\n",
              speedup, cores, cores == 1 ? "" : "s");
  if (cores < 2)
    std::printf("   (one core: the threads take turns here; on two cores they run side by side)\n");
  else if (speedup < 1.5)
    std::printf("   (less than the ~2x two free cores give: other programs are busy on this machine)\n");
  std::printf("   In CPython the GIL makes the two threads take turns: Python's own figure follows.\n");
  return agree;
}

}  // namespace demo
