// pools — a thread pool for work that waits, a process pool for work that computes.
// Concept: the tutorials' rule of thumb: ThreadPoolExecutor for I/O-bound calls (five
// downloads of 1 s take 1 s, not 5), ProcessPoolExecutor or multiprocessing.Pool for
// CPU-bound ones (in Python, threads cannot compute at once because of the GIL). Each
// pool's results are printed with its time beside the serial run's; the last run counts
// the chunks on a progress bar (tqdm in Python), drawn to stderr only on a terminal.
// --quick: every time.sleep is a hundredth as long (ctest passes it; `make demo` does not).
//
// The Python original:
//
//     import concurrent.futures
//     import multiprocessing
//     import time
//
//     from tqdm import tqdm                   # the third-party progress bar
//
//     LIMIT, CHUNK = 2_000_000, 100_000
//
//     def download(name):                     # I/O-bound: the time goes in waiting
//         time.sleep(1)
//         return name
//
//     def count_primes(lo):                   # CPU-bound: primes in [lo, lo + CHUNK)
//         count = 0
//         for k in range(max(lo, 2), lo + CHUNK):
//             i = 2
//             while i * i <= k and k % i != 0:
//                 i += 1
//             count += i * i > k              # no divisor up to sqrt(k): prime
//         return count
//
//     if __name__ == "__main__":
//         files = [f"file{n}.zip" for n in range(1, 6)]
//         start = time.perf_counter()
//         serial = [download(name) for name in files]
//         serial_time = time.perf_counter() - start
//         start = time.perf_counter()
//         with concurrent.futures.ThreadPoolExecutor(max_workers=5) as ex:
//             results = list(ex.map(download, files))
//         took = time.perf_counter() - start
//         print(f"ThreadPoolExecutor:  {results} in {took:.2f} s (serial {serial_time:.2f} s)")
//
//         lows = range(0, LIMIT, CHUNK)
//         start = time.perf_counter()
//         serial = sum(count_primes(lo) for lo in lows)
//         serial_time = time.perf_counter() - start
//         print(f"serial:              {serial} primes in {serial_time:.2f} s")
//
//         def report(label, primes, start):
//             took = time.perf_counter() - start
//             print(f"{label} {primes} primes in {took:.2f} s, speedup {serial_time / took:.2f}x")
//             assert primes == serial
//
//         start = time.perf_counter()
//         with concurrent.futures.ProcessPoolExecutor() as ex:
//             report("ProcessPoolExecutor:", sum(ex.map(count_primes, lows)), start)
//         start = time.perf_counter()
//         with multiprocessing.Pool() as pool:
//             report("Pool.map:           ", sum(pool.map(count_primes, lows)), start)
//             start = time.perf_counter()
//             primes = sum(tqdm(pool.imap_unordered(count_primes, lows), total=len(lows), desc="chunks"))
//             report("Pool.imap_unordered:", primes, start)
#include <pyconc/futures.hpp>
#include <pyconc/multiprocessing.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tutorial.hpp"

namespace futures = pyconc::futures;
namespace multiprocessing = pyconc::multiprocessing;
using namespace seeds;  // time::sleep, time::perf_counter, repr()

constexpr long LIMIT = 2'000'000, CHUNK = 100'000;

std::string download(std::string name) {  // I/O-bound: the time goes in waiting
  time::sleep(1);
  return name;
}

long count_primes(long lo) {  // CPU-bound: primes in [lo, lo + CHUNK)
  long count = 0;
  for (long k = std::max(lo, 2L); k < lo + CHUNK; ++k) {
    long i = 2;
    while (i * i <= k && k % i != 0) i += 1;
    count += i * i > k;  // no divisor up to sqrt(k): prime
  }
  return count;
}

template <class Range>
long sum(Range&& numbers) {  // Python's sum() over any range of counts
  long total = 0;
  for (long n : numbers) total += n;
  return total;
}

int main(int argc, char** argv) {
  multiprocessing::freeze_support(argc, argv);  // if __name__ == "__main__":
  read_quick_flag(argc, argv);
  std::vector<std::string> files;
  for (int n = 1; n < 6; ++n) files.push_back("file" + std::to_string(n) + ".zip");
  double start = time::perf_counter();
  std::vector<std::string> serial_files;
  for (const std::string& name : files) serial_files.push_back(download(name));
  double serial_time = time::perf_counter() - start;
  start = time::perf_counter();
  std::vector<std::string> results;
  {
    futures::ThreadPoolExecutor ex(5);
    results = ex.map(download, files).to_vector();
  }
  double took = time::perf_counter() - start;
  std::printf("ThreadPoolExecutor:  %s in %.2f s (serial %.2f s)\n", repr(results).c_str(), took, serial_time);

  std::vector<long> lows;  // range(0, LIMIT, CHUNK)
  for (long lo = 0; lo < LIMIT; lo += CHUNK) lows.push_back(lo);
  start = time::perf_counter();
  long serial = 0;
  for (long lo : lows) serial += count_primes(lo);
  serial_time = time::perf_counter() - start;
  std::printf("serial:              %ld primes in %.2f s\n", serial, serial_time);

  auto report = [&](const char* label, long primes, double start) {
    double took = time::perf_counter() - start;
    std::printf("%s %ld primes in %.2f s, speedup %.2fx\n", label, primes, took, serial_time / took);
    if (primes != serial) std::exit(1);  // assert
  };

  start = time::perf_counter();
  {
    futures::ProcessPoolExecutor ex;
    report("ProcessPoolExecutor:", sum(ex.map(count_primes, lows)), start);
  }
  start = time::perf_counter();
  {
    multiprocessing::Pool pool;
    report("Pool.map:           ", sum(pool.map(count_primes, lows)), start);
    start = time::perf_counter();
    long primes = sum(futures::progress(pool.imap_unordered(count_primes, lows), {.desc = "chunks"}));
    report("Pool.imap_unordered:", primes, start);
  }
}
