// lock_counter — ten threads each add one to a shared counter, inside `with lock:`.
// Concept: threading.Lock as a context manager (std::scoped_lock); threads kept in a
// list and joined. The lock makes each read-add-print one step: the lines come in order.
//
// The Python original:
//
//     import threading
//
//     counter = 0
//     lock = threading.Lock()
//
//     def increment_counter():
//         global counter
//         with lock:
//             temp = counter
//             counter = temp + 1
//             print("Counter:", counter)
//
//     threads = []
//     for _ in range(10):
//         thread = threading.Thread(target=increment_counter)
//         thread.start()
//         threads.append(thread)
//     for thread in threads:
//         thread.join()
//     print("Final counter value:", counter)
#include <pyconc/threading.hpp>

#include <cstdio>
#include <utility>
#include <vector>

namespace threading = pyconc::threading;

int counter = 0;
threading::Lock lock;

void increment_counter() {
  std::scoped_lock with(lock);  // with lock:
  int temp = counter;
  counter = temp + 1;
  std::printf("Counter: %d\n", counter);
}

int main() {
  std::vector<threading::Thread> threads;
  for (int i = 0; i < 10; ++i) {
    threading::Thread thread(increment_counter);
    thread.start();
    threads.push_back(std::move(thread));
  }
  for (auto& thread : threads) thread.join();
  std::printf("Final counter value: %d\n", counter);
}
