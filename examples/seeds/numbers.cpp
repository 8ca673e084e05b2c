// numbers — a thread prints five numbers, one a second, while the main thread waits.
// Concept: a Thread running a slow loop; join() waits for it to finish.
// --quick: sleeps of 10 ms instead of 1 s.
//
// The Python original:
//
//     import threading
//     import time
//
//     def print_numbers():
//         for i in range(5):
//             print("Number:", i)
//             time.sleep(1)
//
//     thread = threading.Thread(target=print_numbers)
//     thread.start()
//     thread.join()
//     print("Thread has finished executing")
#include <pyconc/threading.hpp>

#include <cstdio>

#include "tutorial.hpp"

namespace threading = pyconc::threading;
using namespace seeds;  // time::sleep

void print_numbers() {
  for (int i = 0; i < 5; ++i) {
    std::printf("Number: %d\n", i);
    time::sleep(1);
  }
}

int main(int argc, char** argv) {
  read_quick_flag(argc, argv);
  threading::Thread thread(print_numbers);
  thread.start();
  thread.join();
  std::printf("Thread has finished executing\n");
}
