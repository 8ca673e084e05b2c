// pool_map: Pool(2).map(square, range(N), chunksize=10000) with the result list checked
// (the pool started and warm, fork). pyconc's multiprocessing::Pool::map over
// bench::Ints (range(N): a sized range computed as it is read) and, as a second
// implementation, futures::ProcessPoolExecutor::map over the same. Python's side: multiprocessing.Pool.map and joblib's loky executor's
// map (bench/peers/python_workloads.py).
#include <chrono>
#include <pyconc/multiprocessing/pool.hpp>
#include <pyconc/multiprocessing/process.hpp>
#include <pyconc/multiprocessing/process_pool_executor.hpp>
#include <string_view>
#include <vector>

#include "workload.hpp"

namespace futures = pyconc::futures;
namespace mp = pyconc::multiprocessing;

namespace {

long square(long x) { return x * x; }

constexpr int kChunksize = 10'000;

void check_squares(const std::vector<long>& out, long long n) {
  bench::check(static_cast<long long>(out.size()) == n, "one result per item");
  bool ok = true;
  for (long long i = 0; i < n; ++i) ok &= out[static_cast<std::size_t>(i)] == i * i;
  bench::check(ok, "every result is its item squared, in order");
}

void pool_map(std::string_view impl, long long n) {
  mp::Pool pool({.processes = 2, .context = mp::get_context("fork")});
  bench::check(pool.map(square, bench::Ints{100}).back() == 99 * 99, "warm-up map");
  auto t0 = std::chrono::steady_clock::now();
  std::vector<long> out = pool.map(square, bench::Ints{static_cast<long>(n)}, {.chunksize = kChunksize});
  double d = bench::seconds_since(t0);
  pool.close();
  pool.join();
  check_squares(out, n);
  bench::emit("pool_map", impl, n / d, "items/s", n);
}

void executor_map(std::string_view impl, long long n) {
  futures::ProcessPoolExecutor ex(2, {.mp_context = mp::get_context("fork")});
  bench::check(ex.map(square, bench::Ints{100}).to_vector().size() == 100, "warm-up map");
  auto t0 = std::chrono::steady_clock::now();
  std::vector<long> out = ex.map(square, {.chunksize = kChunksize}, bench::Ints{static_cast<long>(n)}).to_vector();
  double d = bench::seconds_since(t0);
  check_squares(out, n);
  bench::emit("pool_map", impl, n / d, "items/s", n);
}

}  // namespace

int main(int argc, char** argv) {
  mp::freeze_support(argc, argv);
  long long n = bench::arg_n(argc, argv, 1'000'000);
  std::string_view impl = argc > 1 ? argv[1] : "pyconc";
  if (impl == "pyconc") pool_map(impl, n);
  else if (impl == "pyconc-ProcessPoolExecutor.map") executor_map(impl, n);
  else return std::fprintf(stderr, "unknown impl %.*s\n", static_cast<int>(impl.size()), impl.data()), 2;
  return 0;
}
