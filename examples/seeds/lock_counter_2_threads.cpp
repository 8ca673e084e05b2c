// lock_counter_2_threads — two threads each add 100,000 to a shared counter under a Lock.
// Concept: `with lock: counter += 1` keeps every increment. Without a GIL the two
// threads really run at once: drop the lock and increments are lost.
//
// The Python original:
//
//     import threading
//
//     counter = 0
//     lock = threading.Lock()
//
//     def increment():
//         global counter
//         for _ in range(100_000):
//             with lock:
//                 counter += 1
//
//     t1 = threading.Thread(target=increment)
//     t2 = threading.Thread(target=increment)
//     t1.start()
//     t2.start()
//     t1.join()
//     t2.join()
//     print("Final counter value:", counter)
#include <pyconc/threading.hpp>

#include <cstdio>

namespace threading = pyconc::threading;

long counter = 0;
threading::Lock lock;

void increment() {
  for (int i = 0; i < 100'000; ++i) {
    std::scoped_lock with(lock);  // with lock:
    counter += 1;
  }
}

int main() {
  threading::Thread t1(increment);
  threading::Thread t2(increment);
  t1.start();
  t2.start();
  t1.join();
  t2.join();
  std::printf("Final counter value: %ld\n", counter);
}
