// threads_vs_processes — the same CPU-bound job (large factorials, mod a prime) run
// serially, on N threads and on N processes, timed.
// Concept: the tutorials' lesson that CPU-bound Python code needs processes, because the
// GIL lets one thread compute at a time. pyconc has no GIL: threads and processes both
// approach N times the serial speed on N free cores (N: the cores this program may use;
// a busy machine gives less). The worker, started as a Thread or as a Process, sends
// its result through one multiprocessing.Queue.
//
// The Python original (its threads stay near 1x, its processes approach Nx):
//
//     import multiprocessing, os, threading, time
//
//     P = 1_000_000_007
//
//     def factorial_mod(n):                  # n! mod P: a large factorial, kept small
//         result = 1
//         for i in range(2, n + 1):
//             result = result * i % P
//         return result
//
//     def worker(n, output):
//         output.put((n, factorial_mod(n)))
//
//     def run(Worker, numbers):              # one Worker per number
//         output = multiprocessing.Queue()
//         workers = [Worker(target=worker, args=(n, output)) for n in numbers]
//         for w in workers:
//             w.start()
//         results = sorted(output.get() for _ in numbers)
//         for w in workers:
//             w.join()
//         return results
//
//     if __name__ == "__main__":
//         N = os.process_cpu_count()
//         numbers = [50_000_000 + k for k in range(N)]   # N jobs of the same size
//         start = time.perf_counter()
//         serial = sorted((n, factorial_mod(n)) for n in numbers)
//         serial_time = time.perf_counter() - start
//         print(f"serial:    {N} jobs in {serial_time:.2f} s")
//         for Worker, label in ((threading.Thread, "threads:  "), (multiprocessing.Process, "processes:")):
//             start = time.perf_counter()
//             assert run(Worker, numbers) == serial
//             took = time.perf_counter() - start
//             print(f"{label} {N} jobs in {took:.2f} s, speedup {serial_time / took:.2f}x")
#include <pyconc/multiprocessing.hpp>
#include <pyconc/threading.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "tutorial.hpp"

namespace multiprocessing = pyconc::multiprocessing;
namespace threading = pyconc::threading;
using namespace seeds;  // time::perf_counter
using Result = std::pair<std::uint64_t, std::uint64_t>;

constexpr std::uint64_t P = 1'000'000'007;

std::uint64_t factorial_mod(std::uint64_t n) {  // n! mod P: a large factorial, kept small
  std::uint64_t result = 1;
  for (std::uint64_t i = 2; i <= n; ++i) result = result * i % P;
  return result;
}

void worker(std::uint64_t n, multiprocessing::Queue<Result> output) { output.put({n, factorial_mod(n)}); }

template <class Worker>  // threading::Thread or multiprocessing::Process
std::vector<Result> run(const std::vector<std::uint64_t>& numbers) {
  multiprocessing::Queue<Result> output;
  std::vector<Worker> workers;
  for (std::uint64_t n : numbers) workers.emplace_back(worker, n, output);
  for (auto& w : workers) w.start();
  std::vector<Result> results;
  for (std::size_t i = 0; i < numbers.size(); ++i) results.push_back(output.get());
  for (auto& w : workers) w.join();
  std::sort(results.begin(), results.end());
  return results;
}

int main(int argc, char** argv) {
  multiprocessing::freeze_support(argc, argv);  // if __name__ == "__main__":
  int N = multiprocessing::cpu_count();
  std::vector<std::uint64_t> numbers;
  for (int k = 0; k < N; ++k) numbers.push_back(50'000'000 + k);  // N jobs of the same size
  double start = time::perf_counter();
  std::vector<Result> serial;
  for (std::uint64_t n : numbers) serial.push_back({n, factorial_mod(n)});
  double serial_time = time::perf_counter() - start;
  std::printf("serial:    %d jobs in %.2f s\n", N, serial_time);
  auto timed = [&](const char* label, auto run_workers) {
    double start = time::perf_counter();
    if (run_workers(numbers) != serial) std::exit(1);  // assert
    double took = time::perf_counter() - start;
    std::printf("%s %d jobs in %.2f s, speedup %.2fx\n", label, N, took, serial_time / took);
  };
  timed("threads:  ", run<threading::Thread>);
  timed("processes:", run<multiprocessing::Process>);
}
