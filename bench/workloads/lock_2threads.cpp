// lock_2threads: 2 threads each do N times: acquire the Lock, increment a shared
// counter, release. Measured for pyconc's threading::Lock and the C++ peers.
#include <absl/synchronization/mutex.h>

#include <atomic>
#include <mutex>
#include <pyconc/threading.hpp>
#include <string_view>
#include <thread>

#include "workload.hpp"

namespace threading = pyconc::threading;

namespace {

template <class Body>
double run_two(long long n, Body body) {
  threading::Event go;
  auto work = [&] {
    go.wait();
    for (long long i = 0; i < n; ++i) body();
  };
  std::thread a(work), b(work);
  auto t0 = std::chrono::steady_clock::now();
  go.set();
  a.join();
  b.join();
  return bench::seconds_since(t0);
}

template <class M>
void with_lock(std::string_view impl, long long n) {
  M m;
  long long counter = 0;
  double d = run_two(n, [&] {
    std::scoped_lock with(m);
    ++counter;
  });
  bench::check(counter == 2 * n, "counter == 2N");
  bench::emit("lock_2threads", impl, 2 * n / d, "acquisitions/s", 2 * n);
}

void python_api(long long n) {  // acquire()/release(), the calls a Python port makes
  threading::Lock lock;
  long long counter = 0;
  double d = run_two(n, [&] {
    lock.acquire();
    ++counter;
    lock.release();
  });
  bench::check(counter == 2 * n, "counter == 2N");
  bench::emit("lock_2threads", "pyconc-acquire/release", 2 * n / d, "acquisitions/s", 2 * n);
}

void absl_mutex(long long n) {
  absl::Mutex m;
  long long counter = 0;
  double d = run_two(n, [&] {
    absl::MutexLock with(&m);
    ++counter;
  });
  bench::check(counter == 2 * n, "counter == 2N");
  bench::emit("lock_2threads", "absl::Mutex", 2 * n / d, "acquisitions/s", 2 * n);
}

void atomic_floor(long long n) {
  std::atomic<long long> counter{0};
  double d = run_two(n, [&] { counter.fetch_add(1, std::memory_order_relaxed); });
  bench::check(counter.load() == 2 * n, "counter == 2N");
  bench::emit("lock_2threads", "atomic-fetch_add-nolock", 2 * n / d, "acquisitions/s", 2 * n);
}

}  // namespace

int main(int argc, char** argv) {
  long long n = bench::arg_n(argc, argv, 1'000'000);
  std::string_view impl = argc > 1 ? argv[1] : "pyconc";
  if (impl == "pyconc") with_lock<threading::Lock>("pyconc", n);
  else if (impl == "pyconc-acquire/release") python_api(n);
  else if (impl == "std::mutex") with_lock<std::mutex>("std::mutex", n);
  else if (impl == "absl::Mutex") absl_mutex(n);
  else if (impl == "atomic-fetch_add-nolock") atomic_floor(n);
  else return std::fprintf(stderr, "unknown impl %.*s\n", static_cast<int>(impl.size()), impl.data()), 2;
  return 0;
}
