// queue_factorials — four processes each put (n, n!) on one multiprocessing.Queue; the
// parent collects the four pairs.
// Concept: as queue_squares, with a computation in each child. The pairs arrive in the
// order the children finish.
//
// The Python original:
//
//     import math
//     from multiprocessing import Process, Queue
//
//     def factorial(n, output):
//         output.put((n, math.factorial(n)))
//
//     if __name__ == "__main__":
//         numbers = [5, 10, 15, 20]
//         output = Queue()
//         processes = [Process(target=factorial, args=(n, output)) for n in numbers]
//         for p in processes:
//             p.start()
//         for p in processes:
//             p.join()
//         results = [output.get() for _ in numbers]
//         print("Factorials:", results)
//
// C++ integers are bounded: 20! is the largest factorial that 64 bits hold.
#include <pyconc/multiprocessing.hpp>

#include <cstdint>
#include <cstdio>
#include <utility>
#include <vector>

#include "tutorial.hpp"

namespace multiprocessing = pyconc::multiprocessing;

std::uint64_t math_factorial(int n) {
  std::uint64_t result = 1;
  for (int i = 2; i <= n; ++i) result *= static_cast<std::uint64_t>(i);
  return result;
}

void factorial(int n, multiprocessing::Queue<std::pair<int, std::uint64_t>> output) {
  output.put({n, math_factorial(n)});
}

int main(int argc, char** argv) {
  multiprocessing::freeze_support(argc, argv);  // if __name__ == "__main__":
  std::vector<int> numbers = {5, 10, 15, 20};
  multiprocessing::Queue<std::pair<int, std::uint64_t>> output;
  std::vector<multiprocessing::Process> processes;
  for (int n : numbers) processes.emplace_back(factorial, n, output);
  for (auto& p : processes) p.start();
  for (auto& p : processes) p.join();
  std::vector<std::pair<int, std::uint64_t>> results;
  for (std::size_t i = 0; i < numbers.size(); ++i) results.push_back(output.get());
  std::printf("Factorials: %s\n", seeds::repr(results).c_str());
}
