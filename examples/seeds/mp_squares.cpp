// mp_squares — a child process computes squares and sends them back through a
// multiprocessing.Queue; the parent prints them. Shows: a Queue passed to a Process as
// an argument, put() in the child, get() in the parent, and the freeze_support line a
// program needs so that spawn/forkserver children can start. Exits with 1 unless the
// squares arrived in order.
//
// The Python original:
//
//     from multiprocessing import Process, Queue
//
//     def square(numbers, q):
//         for n in numbers:
//             q.put(n * n)
//
//     if __name__ == "__main__":
//         numbers = [1, 2, 3, 4, 5]
//         q = Queue()
//         p = Process(target=square, args=(numbers, q))
//         p.start()
//         p.join()
//         while not q.empty():
//             print(q.get())
#include <cstdio>
#include <vector>

#include <pyconc/multiprocessing/process.hpp>
#include <pyconc/multiprocessing/queues.hpp>

namespace multiprocessing = pyconc::multiprocessing;

void square(std::vector<int> numbers, multiprocessing::Queue<int> q) {
  for (int n : numbers) q.put(n * n);
}

int main(int argc, char** argv) {
  multiprocessing::freeze_support(argc, argv);  // if __name__ == "__main__":
  std::vector<int> numbers{1, 2, 3, 4, 5};
  multiprocessing::Queue<int> q;
  multiprocessing::Process p(square, numbers, q);
  p.start();
  p.join();
  int expect = 1, ok = 1;
  while (!q.empty()) {
    int x = q.get();
    std::printf("%d\n", x);
    ok &= x == expect * expect;
    ++expect;
  }
  return ok && expect == 6 ? 0 : 1;
}
