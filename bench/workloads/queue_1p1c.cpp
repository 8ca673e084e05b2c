// queue_1p1c: a bounded queue of maxsize 1024; one producer thread puts N ints (then an
// end marker), one consumer thread gets them all. pyconc's queue::Queue here; the C++
// peers in bench/peers/queue_1p1c_peers.hpp.
#include <pyconc/queue.hpp>
#include <string_view>

#include "queue_1p1c_peers.hpp"
#include "workload.hpp"

namespace queue = pyconc::queue;

namespace {

constexpr long kCapacity = 1024;

void pyconc_queue(std::string_view impl, long long n) {
  queue::Queue<long> q(kCapacity);
  double d = bench::producer_consumer(n, [&](long v) { q.put(v); }, [&] { return q.get(); });
  bench::emit("queue_1p1c", impl, n / d, "items/s", n);
}

}  // namespace

int main(int argc, char** argv) {
  long long n = bench::arg_n(argc, argv, 1'000'000);
  std::string_view impl = argc > 1 ? argv[1] : "pyconc";
  if (impl == "pyconc") pyconc_queue(impl, n);
  else if (impl == "std-mutex-2condvar-bounded") peers::std_mutex_2condvar_bounded(impl, n, kCapacity);
  else if (impl == "tbb-concurrent_bounded_queue") peers::tbb_concurrent_bounded_queue(impl, n, kCapacity);
  else if (impl == "moodycamel-BlockingConcurrentQueue-unbounded")
    peers::moodycamel_blocking_unbounded(impl, n, kCapacity);
  else return std::fprintf(stderr, "unknown impl %.*s\n", static_cast<int>(impl.size()), impl.data()), 2;
  return 0;
}
