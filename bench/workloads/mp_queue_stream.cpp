// mp_queue_stream: a child process puts N ints (then an end marker) into an unbounded
// multiprocessing Queue; the parent gets them all. mp_queue_bulk: the same with items of
// 1 MiB (std::string), N items; the figure is GB/s. pyconc's multiprocessing::Queue here;
// Python's multiprocessing.Queue in bench/peers/python_workloads.py.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <pyconc/multiprocessing/queues.hpp>
#include <string>
#include <string_view>

#include "workload.hpp"

namespace mp = pyconc::multiprocessing;

namespace {

// The child is a plain fork() (what Process's default start method does).
template <class Body>
void in_child(Body body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    body();
    ::_exit(0);
  }
  bench::check(pid > 0, "fork");
}

void reap() {
  int status = 0;
  ::wait(&status);
  bench::check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exit");
}

void stream(std::string_view impl, long long n) {
  mp::Queue<long long> q;
  auto t0 = std::chrono::steady_clock::now();
  in_child([&] {
    for (long long i = 0; i < n; ++i) q.put(i);
    q.put(-1);
  });
  long long sum = 0, count = 0;
  for (long long v; (v = q.get()) >= 0;) sum += v, ++count;
  double d = bench::seconds_since(t0);
  reap();
  bench::check(count == n && sum == n * (n - 1) / 2, "every int arrived once, in order");
  bench::emit("mp_queue_stream", impl, n / d, "items/s", n);
}

void bulk(std::string_view impl, long long n) {
  constexpr std::size_t kItem = 1 << 20;
  mp::Queue<std::string> q;
  auto t0 = std::chrono::steady_clock::now();
  in_child([&] {
    std::string item(kItem, 'x');
    for (long long i = 0; i < n; ++i) {
      item[0] = static_cast<char>(i);
      q.put(item);
    }
  });
  bool ok = true;
  for (long long i = 0; i < n; ++i) {
    std::string item = q.get();
    ok &= item.size() == kItem && item[0] == static_cast<char>(i) && item[kItem - 1] == 'x';
  }
  double d = bench::seconds_since(t0);
  reap();
  bench::check(ok, "every 1 MiB item arrived intact, in order");
  bench::emit("mp_queue_bulk", impl, static_cast<double>(n) * kItem / d / 1e9, "GB/s", n);
}

}  // namespace

int main(int argc, char** argv) {
  std::string_view impl = argc > 1 ? argv[1] : "pyconc";
  bool bulk_mode = false;
  for (int i = 1; i < argc; ++i) bulk_mode |= std::string_view(argv[i]) == "--bulk";
  if (impl != "pyconc") return std::fprintf(stderr, "unknown impl %.*s\n", static_cast<int>(impl.size()), impl.data()), 2;
  if (bulk_mode) bulk(impl, bench::arg_n(argc, argv, 2048));
  else stream(impl, bench::arg_n(argc, argv, 2'000'000));
  return 0;
}
