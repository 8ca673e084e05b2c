// five_workers — five worker threads each work (sleep) 2 s: all done in ~2 s, not 10.
// Concept: threads started in a loop, kept in a list, joined; the starts and finishes
// come in any order. --quick: sleeps of 20 ms instead of 2 s.
//
// The Python original:
//
//     import threading
//     import time
//
//     def worker(n):
//         print(f"Worker {n} started")
//         time.sleep(2)
//         print(f"Worker {n} finished")
//
//     threads = []
//     for i in range(5):
//         t = threading.Thread(target=worker, args=(i,))
//         threads.append(t)
//         t.start()
//     for t in threads:
//         t.join()
//     print("All workers completed.")
#include <pyconc/threading.hpp>

#include <cstdio>
#include <vector>

#include "tutorial.hpp"

namespace threading = pyconc::threading;
using namespace seeds;  // time::sleep

void worker(int n) {
  std::printf("Worker %d started\n", n);
  time::sleep(2);
  std::printf("Worker %d finished\n", n);
}

int main(int argc, char** argv) {
  read_quick_flag(argc, argv);
  std::vector<threading::Thread> threads;
  for (int i = 0; i < 5; ++i) {
    threads.emplace_back(worker, i);
    threads.back().start();
  }
  for (auto& t : threads) t.join();
  std::printf("All workers completed.\n");
}
