// producer_consumer — a producer and a consumer share a bounded queue.Queue(maxsize=5).
// Shows: put() waiting while five items wait, get(), task_done() and join() (until every
// item put was processed), and Python 3.13's shutdown(), after which the consumer's get()
// raises queue::ShutDown once the queue is empty (before 3.13: a sentinel such as None).
// Exits with 1 unless the consumer got 1..20 in order. Output order is fixed.
//
// The Python original (3.13):
//
//     import queue
//     import threading
//
//     N = 20
//     q = queue.Queue(maxsize=5)
//     got = []
//
//     def producer():
//         for i in range(1, N + 1):
//             q.put(i)                      # waits while the queue is full
//         print(f"producer: put {N} items")
//
//     def consumer():
//         while True:
//             try:
//                 item = q.get()
//             except queue.ShutDown:        # shut down and empty: no more work
//                 return
//             got.append(item)
//             q.task_done()
//
//     p = threading.Thread(target=producer)
//     c = threading.Thread(target=consumer)
//     p.start()
//     c.start()
//     p.join()                              # every item is in the queue ...
//     q.join()                              # ... and every item was processed
//     q.shutdown()
//     c.join()
//     print(f"consumer: got {len(got)} items, total {sum(got)}")
//     assert got == list(range(1, N + 1))
#include <pyconc/queue.hpp>
#include <pyconc/threading.hpp>

#include <cstdio>
#include <numeric>
#include <vector>

namespace queue = pyconc::queue;
namespace threading = pyconc::threading;

constexpr int N = 20;
queue::Queue<int> q(5);
std::vector<int> got;  // the consumer's; main reads it after c.join()

void producer() {
  for (int i = 1; i <= N; ++i) q.put(i);  // waits while the queue is full
  std::printf("producer: put %d items\n", N);
}

void consumer() {
  for (;;) {
    int item;
    try {
      item = q.get();
    } catch (const queue::ShutDown&) {  // shut down and empty: no more work
      return;
    }
    got.push_back(item);
    q.task_done();
  }
}

int main() {
  threading::Thread p(producer);
  threading::Thread c(consumer);
  p.start();
  c.start();
  p.join();  // every item is in the queue ...
  q.join();  // ... and every item was processed
  q.shutdown();
  c.join();
  std::printf("consumer: got %zu items, total %d\n", got.size(), std::accumulate(got.begin(), got.end(), 0));
  std::vector<int> expected(N);
  std::iota(expected.begin(), expected.end(), 1);
  return got == expected ? 0 : 1;  // assert
}
