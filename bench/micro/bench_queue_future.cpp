// Micro-benchmarks of the queue and future paths (developer tool).
#include <benchmark/benchmark.h>

#include <pyconc/futures.hpp>
#include <pyconc/queue.hpp>

namespace queue = pyconc::queue;
namespace futures = pyconc::futures;

namespace {

void queue_put_get_bounded(benchmark::State& state) {
  queue::Queue<long> q(1024);
  long i = 0;
  for (auto _ : state) {
    q.put(i++);
    benchmark::DoNotOptimize(q.get());
  }
}
BENCHMARK(queue_put_get_bounded);

void queue_put_get_unbounded(benchmark::State& state) {
  queue::Queue<long> q;
  long i = 0;
  for (auto _ : state) {
    q.put(i++);
    benchmark::DoNotOptimize(q.get());
  }
}
BENCHMARK(queue_put_get_unbounded);

void queue_try_put_try_get(benchmark::State& state) {
  queue::Queue<long> q(1024);
  long i = 0;
  for (auto _ : state) {
    q.try_put(i++);
    benchmark::DoNotOptimize(q.try_get());
  }
}
BENCHMARK(queue_try_put_try_get);

void future_set_result_get(benchmark::State& state) {
  for (auto _ : state) {
    futures::Future<long> f;
    f.set_running_or_notify_cancel();
    f.set_result(42);
    benchmark::DoNotOptimize(f.result());
  }
}
BENCHMARK(future_set_result_get);

void submit_and_wait_each(benchmark::State& state) {
  futures::ThreadPoolExecutor ex(1);
  long i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(ex.submit([](long v) { return v; }, i++).result());
}
BENCHMARK(submit_and_wait_each)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
