// manager_dict: a Manager's dict used from a child process: the child does N times
// d[i % 100] = i, then reads d[i % 100] back N times, through a DictProxy (each call a
// round trip to the manager's server process). Reports microseconds per call.
#include <chrono>
#include <pyconc/multiprocessing/managers.hpp>
#include <pyconc/multiprocessing/process.hpp>
#include <string_view>

#include "workload.hpp"

namespace mp = pyconc::multiprocessing;

namespace {

void child(mp::managers::DictProxy<long, long> d, long long n, mp::Connection report) {
  d[-1] = -1;  // the link to the manager exists before the clock starts
  auto t0 = std::chrono::steady_clock::now();
  for (long long i = 0; i < n; ++i) d[i % 100] = i;
  bool ok = true;
  for (long long i = 0; i < n; ++i) ok = ok && static_cast<long>(d[i % 100]) >= 0;
  double seconds = bench::seconds_since(t0);
  report.send(ok ? seconds : -1.0);
}

void pyconc_manager(std::string_view impl, long long n) {
  auto manager = mp::get_context("fork").Manager();
  auto d = manager.dict<long, long>();
  auto [reader, writer] = mp::Pipe(false);
  auto p = mp::get_context("fork").Process(&child, d, n, writer);
  p.start();
  double seconds = reader.recv<double>();
  p.join();
  bench::check(seconds > 0 && p.exitcode() == 0, "the child's calls all worked");
  bench::check(d.len() == 101 && static_cast<long>(d[(n - 1) % 100]) == n - 1, "the dict holds the last values");
  bench::emit("manager_dict", impl, seconds / static_cast<double>(2 * n) * 1e6, "us/call", n);
}

}  // namespace

int main(int argc, char** argv) {
  mp::freeze_support(argc, argv);
  long long n = bench::arg_n(argc, argv, 100'000);
  std::string_view impl = argc > 1 && argv[1][0] != '-' ? argv[1] : "pyconc";
  if (impl == "pyconc") pyconc_manager(impl, n);
  else return std::fprintf(stderr, "unknown impl %.*s\n", static_cast<int>(impl.size()), impl.data()), 2;
  return 0;
}
