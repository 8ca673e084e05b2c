// queue_squares — five processes each put (x, x*x) on one multiprocessing.Queue; the
// parent collects the five pairs.
// Concept: a multiprocessing.Queue passed to several Processes as an argument; put() in
// the children, get() in the parent. The pairs arrive in the order the children finish.
//
// The Python original:
//
//     from multiprocessing import Process, Queue
//
//     def square(x, output):
//         output.put((x, x * x))
//
//     if __name__ == "__main__":
//         numbers = [1, 2, 3, 4, 5]
//         output = Queue()
//         processes = [Process(target=square, args=(x, output)) for x in numbers]
//         for p in processes:
//             p.start()
//         for p in processes:
//             p.join()
//         results = [output.get() for _ in numbers]
//         print("Results:", results)
#include <pyconc/multiprocessing.hpp>

#include <cstdio>
#include <utility>
#include <vector>

#include "tutorial.hpp"

namespace multiprocessing = pyconc::multiprocessing;

void square(int x, multiprocessing::Queue<std::pair<int, int>> output) { output.put({x, x * x}); }

int main(int argc, char** argv) {
  multiprocessing::freeze_support(argc, argv);  // if __name__ == "__main__":
  std::vector<int> numbers = {1, 2, 3, 4, 5};
  multiprocessing::Queue<std::pair<int, int>> output;
  std::vector<multiprocessing::Process> processes;
  for (int x : numbers) processes.emplace_back(square, x, output);
  for (auto& p : processes) p.start();
  for (auto& p : processes) p.join();
  std::vector<std::pair<int, int>> results;
  for (std::size_t i = 0; i < numbers.size(); ++i) results.push_back(output.get());
  std::printf("Results: %s\n", seeds::repr(results).c_str());
}
