// process_squares — five processes each print the square of their number.
// Concept: one Process per item of range(5), all started, then all joined. Each child
// prints on its own, so the lines come in any order.
//
// The Python original:
//
//     from multiprocessing import Process
//
//     def print_square(num):
//         print(f"Square of {num} is {num * num}")
//
//     if __name__ == "__main__":
//         processes = []
//         for i in range(5):
//             p = Process(target=print_square, args=(i,))
//             processes.append(p)
//             p.start()
//         for p in processes:
//             p.join()
#include <pyconc/multiprocessing.hpp>

#include <cstdio>
#include <vector>

namespace multiprocessing = pyconc::multiprocessing;

void print_square(int num) { std::printf("Square of %d is %d\n", num, num * num); }

int main(int argc, char** argv) {
  multiprocessing::freeze_support(argc, argv);  // if __name__ == "__main__":
  std::vector<multiprocessing::Process> processes;
  for (int i = 0; i < 5; ++i) {
    processes.emplace_back(print_square, i);
    processes.back().start();
  }
  for (auto& p : processes) p.join();
}
