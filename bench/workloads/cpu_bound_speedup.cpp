// cpu_bound_speedup.threads: count the primes below LIMIT by trial division; the serial
// time over the time with the range split in two halves on 2 threading::Threads.
// The halves interleave in blocks of kBlock numbers (half 0 takes the even blocks, half
// 1 the odd ones), so both get the same work: a prime near LIMIT costs more trial
// divisions than one near 0, and contiguous halves would cap the speedup near 1.55x.
// Python's side (bench/peers/python_workloads.py) splits the same way.
// cpu_bound_speedup.processes (argument "processes"): the same on 2
// multiprocessing::Processes (the default start method, fork); each child sends its
// count back through a pipe. The processes are started before the clock starts, as
// Python's Pool is (see run_processes).
// cpu_bound_speedup.processes through Pool.map (argument "pool", impl
// "pyconc-Pool.map"): a multiprocessing::Pool of 2 workers (fork; started and warm before
// the clock) maps the count over kStripes interleaved stripes of blocks (stripe s takes
// blocks s, s + kStripes, ...), one task each: equal work per task, and a worker that
// finishes first takes the next stripe.
#include <unistd.h>

#include <pyconc/multiprocessing/pool.hpp>
#include <pyconc/multiprocessing/process.hpp>
#include <pyconc/threading.hpp>
#include <algorithm>
#include <numeric>
#include <string_view>
#include <utility>
#include <vector>

#include "workload.hpp"

namespace threading = pyconc::threading;
namespace mp = pyconc::multiprocessing;

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

constexpr long kBlock = 1000;

// The primes below `limit` in half `part` (0 or 1) of the blocks.
long count_half(long limit, long part) {
  long found = 0;
  for (long lo = part * kBlock; lo < limit; lo += 2 * kBlock) found += count_primes(lo, std::min(lo + kBlock, limit));
  return found;
}

constexpr long kStripes = 16;

// The primes below `limit` in stripe `stripe` of kStripes (blocks stripe, stripe +
// kStripes, ...).
long count_stripe(long limit, long stripe) {
  long found = 0;
  for (long lo = stripe * kBlock; lo < limit; lo += kStripes * kBlock)
    found += count_primes(lo, std::min(lo + kBlock, limit));
  return found;
}

// A child's work: wait for the go byte on `go_fd`, count its half, write the count to
// `out_fd` (both pipes inherited).
void count_into(int go_fd, int out_fd, long limit, long part) {
  char go = 0;
  bench::check(::read(go_fd, &go, 1) == 1, "child got the go signal");
  long found = count_half(limit, part);
  bench::check(::write(out_fd, &found, sizeof found) == static_cast<ssize_t>(sizeof found), "child wrote its count");
}

long read_count(int fd) {
  long value = -1;
  bench::check(::read(fd, &value, sizeof value) == static_cast<ssize_t>(sizeof value), "parent read a count");
  return value;
}

// As Python's side does with its Pool, the two processes are started before the clock
// starts (they wait for a go byte): the figure is the split of the work, not fork's cost.
int run_processes(long limit, long serial, double serial_time) {
  int go[2], low_pipe[2], high_pipe[2];
  bench::check(::pipe(go) == 0 && ::pipe(low_pipe) == 0 && ::pipe(high_pipe) == 0, "pipes");
  mp::Process low(count_into, go[0], low_pipe[1], limit, 0L);
  mp::Process high(count_into, go[0], high_pipe[1], limit, 1L);
  low.start();
  high.start();
  auto t0 = std::chrono::steady_clock::now();
  bench::check(::write(go[1], "gg", 2) == 2, "go signal sent");
  long a = read_count(low_pipe[0]);
  long b = read_count(high_pipe[0]);
  double parallel_time = bench::seconds_since(t0);
  low.join();
  high.join();
  for (int fd : {go[0], go[1], low_pipe[0], low_pipe[1], high_pipe[0], high_pipe[1]}) ::close(fd);
  bench::check(low.exitcode() == 0 && high.exitcode() == 0, "children exited with 0");
  bench::check(a + b == serial, "count from processes == serial count");
  bench::emit("cpu_bound_speedup.processes", "pyconc", serial_time / parallel_time, "x", limit);
  return 0;
}
long identity(long x) { return x; }

using Stripe = std::pair<long, long>;  // (limit, stripe)
long count_stripe_of(Stripe job) { return count_stripe(job.first, job.second); }

int run_pool_map(long limit, long serial, double serial_time) {
  mp::Pool pool({.processes = 2, .context = mp::get_context("fork")});
  bench::check(pool.map(identity, std::vector<long>{0, 1}).size() == 2, "the workers run");
  std::vector<Stripe> stripes;
  for (long s = 0; s < kStripes; ++s) stripes.push_back({limit, s});
  auto t0 = std::chrono::steady_clock::now();
  std::vector<long> counts = pool.map(count_stripe_of, stripes, {.chunksize = 1});
  double parallel_time = bench::seconds_since(t0);
  pool.close();
  pool.join();
  bench::check(std::accumulate(counts.begin(), counts.end(), 0L) == serial, "count from the pool == serial count");
  bench::emit("cpu_bound_speedup.processes", "pyconc-Pool.map", serial_time / parallel_time, "x", limit);
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  mp::freeze_support(argc, argv);
  long limit = static_cast<long>(bench::arg_n(argc, argv, 300'000));
  auto t0 = std::chrono::steady_clock::now();
  long serial = count_primes(0, limit);
  double serial_time = bench::seconds_since(t0);
  bool processes = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "pool") return run_pool_map(limit, serial, serial_time);
    processes |= std::string_view(argv[i]) == "processes";
  }
  if (processes) return run_processes(limit, serial, serial_time);

  long a = 0, b = 0;
  t0 = std::chrono::steady_clock::now();
  threading::Thread low([&] { a = count_half(limit, 0); });
  threading::Thread high([&] { b = count_half(limit, 1); });
  low.start();
  high.start();
  low.join();
  high.join();
  double threaded_time = bench::seconds_since(t0);
  bench::check(a + b == serial, "threaded count == serial count");
  bench::emit("cpu_bound_speedup.threads", "pyconc", serial_time / threaded_time, "x", limit);
  return 0;
}
