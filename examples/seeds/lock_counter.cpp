// lock_counter — many threads add to one counter; a Lock keeps every increment.
// Shows: Lock, `with lock:` as std::scoped_lock, threads running at the same time (no
// GIL: without the lock, increments would be lost). Exits with 1 if a total is wrong.
// Output order is fixed. The Python original:
//
//     import threading
//
//     counter = 0
//     lock = threading.Lock()
//
//     def increment(times):
//         global counter
//         for _ in range(times):
//             with lock:
//                 counter += 1
//
//     def run(n_threads, times):
//         global counter
//         counter = 0
//         threads = [threading.Thread(target=increment, args=(times,))
//                    for _ in range(n_threads)]
//         for t in threads:
//             t.start()
//         for t in threads:
//             t.join()
//         print(f"{n_threads} threads x {times} increments: counter = {counter}")
//         assert counter == n_threads * times
//
//     run(10, 1)
//     run(2, 100_000)
#include <pyconc/threading.hpp>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace threading = pyconc::threading;

long counter = 0;
threading::Lock lock;

void increment(long times) {
  for (long i = 0; i < times; ++i) {
    std::scoped_lock with(lock);
    counter += 1;
  }
}

void run(int n_threads, long times) {
  counter = 0;
  std::vector<threading::Thread> threads;
  for (int i = 0; i < n_threads; ++i) threads.emplace_back(increment, times);
  for (auto& t : threads) t.start();
  for (auto& t : threads) t.join();
  std::printf("%d threads x %ld increments: counter = %ld\n", n_threads, times, counter);
  if (counter != n_threads * times) std::exit(1);  // assert
}

int main() {
  run(10, 1);
  run(2, 100'000);
}
