// thread_pool_submit: one thread submits N no-op tasks, each returning its int argument
// (through a future where the implementation has one), to a pool of 2 workers, then
// waits for all. pyconc's ThreadPoolExecutor here; the C++ peers in
// bench/peers/thread_pool_submit_peers.hpp.
#include <chrono>
#include <pyconc/futures.hpp>
#include <string_view>
#include <vector>

#include "thread_pool_submit_peers.hpp"
#include "workload.hpp"

namespace futures = pyconc::futures;

namespace {

long identity(long x) { return x; }

void pyconc_executor(std::string_view impl, long long n) {
  futures::ThreadPoolExecutor ex(2);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<futures::Future<long>> fs;
  fs.reserve(n);
  for (long long i = 0; i < n; ++i) fs.push_back(ex.submit(identity, static_cast<long>(i)));
  futures::wait(fs);
  double d = bench::seconds_since(t0);
  bench::check(fs.back().result() == n - 1, "last result");
  bench::emit("thread_pool_submit", impl, n / d, "tasks/s", n);
}

}  // namespace

int main(int argc, char** argv) {
  long long n = bench::arg_n(argc, argv, 100'000);
  std::string_view impl = argc > 1 ? argv[1] : "pyconc";
  if (impl == "pyconc") pyconc_executor(impl, n);
  else if (impl == "packaged_task-pool") peers::packaged_task_pool(impl, n);
  else if (impl == "tbb-task_group-nofuture") peers::tbb_task_group_nofuture(impl, n);
  else if (impl == "asio-thread_pool-post-nofuture") peers::asio_thread_pool_post_nofuture(impl, n);
  else return std::fprintf(stderr, "unknown impl %.*s\n", static_cast<int>(impl.size()), impl.data()), 2;
  return 0;
}
