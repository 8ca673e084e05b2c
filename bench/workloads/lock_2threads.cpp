// lock_2threads: 2 threads each do N times: acquire the Lock, increment a shared
// counter, release. pyconc's threading::Lock here; the C++ peers in
// bench/peers/lock_2threads_peers.hpp.
#include <mutex>
#include <pyconc/threading.hpp>
#include <string_view>

#include "lock_2threads_peers.hpp"
#include "workload.hpp"

namespace threading = pyconc::threading;

namespace {

void with_lock(std::string_view impl, long long n) {  // the C++ way: std::scoped_lock
  threading::Lock lock;
  bench::lock_2threads(impl, n, [&](long long& counter) {
    std::scoped_lock with(lock);
    ++counter;
  });
}

void python_api(std::string_view impl, long long n) {  // acquire()/release(), the calls a Python port makes
  threading::Lock lock;
  bench::lock_2threads(impl, n, [&](long long& counter) {
    lock.acquire();
    ++counter;
    lock.release();
  });
}

}  // namespace

int main(int argc, char** argv) {
  long long n = bench::arg_n(argc, argv, 1'000'000);
  std::string_view impl = argc > 1 ? argv[1] : "pyconc";
  if (impl == "pyconc") with_lock(impl, n);
  else if (impl == "pyconc-acquire/release") python_api(impl, n);
  else if (impl == "std::mutex") peers::std_mutex(impl, n);
  else if (impl == "absl::Mutex") peers::absl_mutex(impl, n);
  else if (impl == "atomic-fetch_add-nolock") peers::atomic_fetch_add_nolock(impl, n);
  else return std::fprintf(stderr, "unknown impl %.*s\n", static_cast<int>(impl.size()), impl.data()), 2;
  return 0;
}
