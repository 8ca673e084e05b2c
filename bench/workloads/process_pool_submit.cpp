// process_pool_submit: a process pool of 2 workers (started and warm, fork); one thread
// submits N tasks, each returning its int argument through a future, then waits for
// all. pyconc's futures::ProcessPoolExecutor (submit + result) and, as a second
// implementation, multiprocessing::Pool::apply_async (an AsyncResult per task).
// Python's side: concurrent.futures.ProcessPoolExecutor and joblib's loky executor
// (bench/peers/python_workloads.py).
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

long identity(long x) { return x; }

constexpr long kWarm = 100;  // tasks run before the clock starts: the workers are up

void executor_submit(std::string_view impl, long long n) {
  futures::ProcessPoolExecutor ex(2, {.mp_context = mp::get_context("fork")});
  for (long i = 0; i < kWarm; ++i) bench::check(ex.submit(identity, i).result() == i, "warm-up task");
  auto t0 = std::chrono::steady_clock::now();
  std::vector<futures::Future<long>> fs;
  fs.reserve(n);
  for (long long i = 0; i < n; ++i) fs.push_back(ex.submit(identity, static_cast<long>(i)));
  long long sum = 0;
  for (auto& f : fs) sum += f.result();
  double d = bench::seconds_since(t0);
  bench::check(sum == n * (n - 1) / 2, "every task returned its argument");
  bench::emit("process_pool_submit", impl, n / d, "tasks/s", n);
}

void pool_apply_async(std::string_view impl, long long n) {
  mp::Pool pool({.processes = 2, .context = mp::get_context("fork")});
  for (long i = 0; i < kWarm; ++i) bench::check(pool.apply(identity, i) == i, "warm-up task");
  auto t0 = std::chrono::steady_clock::now();
  std::vector<mp::AsyncResult<long>> rs;
  rs.reserve(n);
  for (long long i = 0; i < n; ++i) rs.push_back(pool.apply_async(identity, static_cast<long>(i)));
  long long sum = 0;
  for (auto& r : rs) sum += r.get();
  double d = bench::seconds_since(t0);
  pool.close();
  pool.join();
  bench::check(sum == n * (n - 1) / 2, "every task returned its argument");
  bench::emit("process_pool_submit", impl, n / d, "tasks/s", n);
}

}  // namespace

int main(int argc, char** argv) {
  mp::freeze_support(argc, argv);
  long long n = bench::arg_n(argc, argv, 200'000);
  std::string_view impl = argc > 1 ? argv[1] : "pyconc";
  if (impl == "pyconc") executor_submit(impl, n);
  else if (impl == "pyconc-Pool.apply_async") pool_apply_async(impl, n);
  else return std::fprintf(stderr, "unknown impl %.*s\n", static_cast<int>(impl.size()), impl.data()), 2;
  return 0;
}
