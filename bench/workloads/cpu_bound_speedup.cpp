// cpu_bound_speedup.threads: count the primes below LIMIT by trial division; the serial
// time over the time with the range split in two halves on 2 threading::Threads.
#include <pyconc/threading.hpp>

#include "workload.hpp"

namespace threading = pyconc::threading;

namespace {
long count_primes(long lo, long hi) {
  long found = 0;
  for (long k = lo < 2 ? 2 : lo; k < hi; ++k) {
    bool prime = true;
    for (long d = 2; d * d <= k; ++d)
      if (k % d == 0) {
        prime = false;
        break;
      }
    found += prime;
  }
  return found;
}
}  // namespace

int main(int argc, char** argv) {
  long limit = static_cast<long>(bench::arg_n(argc, argv, 300'000));
  long half = limit / 2;
  auto t0 = std::chrono::steady_clock::now();
  long serial = count_primes(0, limit);
  double serial_time = bench::seconds_since(t0);

  long a = 0, b = 0;
  t0 = std::chrono::steady_clock::now();
  threading::Thread low([&] { a = count_primes(0, half); });
  threading::Thread high([&] { b = count_primes(half, limit); });
  low.start();
  high.start();
  low.join();
  high.join();
  double threaded_time = bench::seconds_since(t0);
  bench::check(a + b == serial, "threaded count == serial count");
  bench::emit("cpu_bound_speedup.threads", "pyconc", serial_time / threaded_time, "x", limit);
  return 0;
}
