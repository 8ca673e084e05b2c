// process_hello — a child process says hello five times, under its own name.
// Concept: multiprocessing.Process(target=...), start(), join(), current_process().name,
// and the `if __name__ == "__main__":` guard, which is freeze_support() in C++.
//
// The Python original:
//
//     from multiprocessing import Process, current_process
//
//     def print_hello():
//         for _ in range(5):
//             print("Hello from Process", current_process().name)
//
//     if __name__ == "__main__":
//         process = Process(target=print_hello)
//         process.start()
//         process.join()
//         print("Main process finished")
#include <pyconc/multiprocessing.hpp>

#include <cstdio>

namespace multiprocessing = pyconc::multiprocessing;

void print_hello() {
  for (int i = 0; i < 5; ++i)
    std::printf("Hello from Process %s\n", multiprocessing::current_process().name().c_str());
}

int main(int argc, char** argv) {
  multiprocessing::freeze_support(argc, argv);  // if __name__ == "__main__":
  multiprocessing::Process process(print_hello);
  process.start();
  process.join();
  std::printf("Main process finished\n");
}
