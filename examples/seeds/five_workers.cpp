// five_workers — five worker threads, started one by one, then joined.
//
// Shows: keeping Thread handles in a list (a std::vector: Thread is movable, and
// moving a started thread's handle does not disturb the thread), the automatic names
// Thread-1 ... Thread-5, is_alive() after join(). The "worker" lines come in any
// order, as in Python; the "joined" lines come in this order.
//
// The Python original:
//
//     import threading
//
//     def worker(index):
//         print(f"worker {index} runs in {threading.current_thread().name}")
//
//     threads = []
//     for i in range(5):
//         t = threading.Thread(target=worker, args=(i,))
//         t.start()
//         threads.append(t)
//     for t in threads:
//         t.join()
//         print(f"{t.name} joined, alive: {t.is_alive()}")
#include <pyconc/threading.hpp>

#include <cstdio>
#include <utility>
#include <vector>

namespace threading = pyconc::threading;

void worker(int index) {
  std::printf("worker %d runs in %s\n", index, threading::current_thread().name().c_str());
}

int main() {
  std::vector<threading::Thread> threads;
  for (int i = 0; i < 5; ++i) {
    threading::Thread t(worker, i);
    t.start();
    threads.push_back(std::move(t));  // a started handle moves freely
  }
  for (auto& t : threads) {
    t.join();
    std::printf("%s joined, alive: %s\n", t.name().c_str(), t.is_alive() ? "True" : "False");
  }
}
