// pool_start: what a short-lived pool costs. N times: a Pool of 2 workers under fork is
// constructed, runs one apply, is closed and joined; the figure is the milliseconds
// per pool (lower is better). Python's side: multiprocessing.get_context("fork").Pool(2)
// the same (bench/peers/python_workloads.py).
#include <chrono>
#include <pyconc/multiprocessing/pool.hpp>
#include <pyconc/multiprocessing/process.hpp>
#include <string_view>

#include "workload.hpp"

namespace mp = pyconc::multiprocessing;

namespace {

long identity(long x) { return x; }

void pool_start(std::string_view impl, long long n) {
  mp::Context fork = mp::get_context("fork");
  auto t0 = std::chrono::steady_clock::now();
  for (long long i = 0; i < n; ++i) {
    mp::Pool pool({.processes = 2, .context = fork});
    bench::check(pool.apply(identity, static_cast<long>(i)) == i, "the pool's one task");
    pool.close();
    pool.join();
  }
  double d = bench::seconds_since(t0);
  bench::emit("pool_start", impl, d / static_cast<double>(n) * 1e3, "ms/pool", n);
}

}  // namespace

int main(int argc, char** argv) {
  mp::freeze_support(argc, argv);
  long long n = bench::arg_n(argc, argv, 20);
  std::string_view impl = argc > 1 ? argv[1] : "pyconc";
  if (impl == "pyconc") pool_start(impl, n);
  else return std::fprintf(stderr, "unknown impl %.*s\n", static_cast<int>(impl.size()), impl.data()), 2;
  return 0;
}
