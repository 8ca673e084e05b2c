// thread_hello — one thread says hello five times, under its own name.
// Concept: threading.Thread(target=...), start(), join(), current_thread().name.
//
// The Python original:
//
//     import threading
//
//     def print_hello():
//         for _ in range(5):
//             print("Hello from Thread", threading.current_thread().name)
//
//     thread = threading.Thread(target=print_hello)
//     thread.start()
//     thread.join()
//     print("Main thread finished")
//
// C++ has no function names at run time: the thread is "Thread-1" where Python 3.10
// and later say "Thread-1 (print_hello)".
#include <pyconc/threading.hpp>

#include <cstdio>

namespace threading = pyconc::threading;

void print_hello() {
  for (int i = 0; i < 5; ++i) std::printf("Hello from Thread %s\n", threading::current_thread().name().c_str());
}

int main() {
  threading::Thread thread(print_hello);
  thread.start();
  thread.join();
  std::printf("Main thread finished\n");
}
