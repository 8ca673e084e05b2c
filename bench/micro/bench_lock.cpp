// Micro-benchmarks of threading::Lock and friends against std::mutex (developer tool;
// the user-facing comparisons are the workloads run by `make bench`).
#include <benchmark/benchmark.h>

#include <mutex>
#include <pyconc/threading.hpp>

namespace threading = pyconc::threading;

namespace {

template <class M>
void uncontended(benchmark::State& state) {
  static M m;
  for (auto _ : state) {
    m.lock();
    benchmark::ClobberMemory();
    m.unlock();
  }
}
BENCHMARK(uncontended<std::mutex>)->Name("uncontended/std::mutex");
BENCHMARK(uncontended<threading::Lock>)->Name("uncontended/threading::Lock");
BENCHMARK(uncontended<threading::RLock>)->Name("uncontended/threading::RLock");

// The same with a second (idle) thread alive, so neither lock can take its
// single-threaded shortcut: what a lock costs in a real concurrent program.
template <class M>
void uncontended_mt(benchmark::State& state) {
  static M m;
  threading::Event stop;
  threading::Thread idle([&] { stop.wait(); });
  idle.start();
  for (auto _ : state) {
    m.lock();
    benchmark::ClobberMemory();
    m.unlock();
  }
  stop.set();
  idle.join();
}
BENCHMARK(uncontended_mt<std::mutex>)->Name("uncontended_mt/std::mutex");
BENCHMARK(uncontended_mt<threading::Lock>)->Name("uncontended_mt/threading::Lock");
BENCHMARK(uncontended_mt<threading::RLock>)->Name("uncontended_mt/threading::RLock");

void uncontended_acquire_release(benchmark::State& state) {
  static threading::Lock m;
  for (auto _ : state) {
    m.acquire();
    benchmark::ClobberMemory();
    m.release();
  }
}
BENCHMARK(uncontended_acquire_release)->Name("uncontended/threading::Lock.acquire+release");

void semaphore(benchmark::State& state) {
  static threading::Semaphore s(1);
  for (auto _ : state) {
    s.acquire();
    benchmark::ClobberMemory();
    s.release();
  }
}
BENCHMARK(semaphore)->Name("uncontended/threading::Semaphore");

template <class M>
void contended(benchmark::State& state) {
  static M m;
  static long counter = 0;
  for (auto _ : state) {
    std::scoped_lock with(m);
    benchmark::DoNotOptimize(++counter);
  }
}
BENCHMARK(contended<std::mutex>)->Name("contended/std::mutex")->Threads(2)->UseRealTime();
BENCHMARK(contended<threading::Lock>)->Name("contended/threading::Lock")->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
