// producer_consumer — a producer and a consumer share a queue.Queue(maxsize=5).
// Concept: a bounded queue between threads: put() waits while five items wait, get()
// waits while none does; each side sleeps a random time between items.
// --quick: 20 items each and sleeps 100 times shorter; without it both loop forever.
//
// The Python original:
//
//     import queue
//     import random
//     import threading
//     import time
//
//     buffer = queue.Queue(maxsize=5)
//
//     def producer():
//         while True:
//             item = random.randint(1, 100)
//             buffer.put(item)
//             print("Produced", item)
//             time.sleep(random.random())
//
//     def consumer():
//         while True:
//             item = buffer.get()
//             print("Consumed", item)
//             time.sleep(random.random())
//
//     producer_thread = threading.Thread(target=producer)
//     consumer_thread = threading.Thread(target=consumer)
//     producer_thread.start()
//     consumer_thread.start()
//     producer_thread.join()
//     consumer_thread.join()
#include <pyconc/queue.hpp>
#include <pyconc/threading.hpp>

#include <cstdio>

#include "tutorial.hpp"

namespace queue = pyconc::queue;
namespace threading = pyconc::threading;
using namespace seeds;  // time::sleep, random::randint, random::random

queue::Queue<int> buffer(5);

void producer() {
  for (int n = 0; !quick || n < 20; ++n) {  // while True:
    int item = random::randint(1, 100);
    buffer.put(item);
    std::printf("Produced %d\n", item);
    time::sleep(random::random());
  }
}

void consumer() {
  for (int n = 0; !quick || n < 20; ++n) {  // while True:
    int item = buffer.get();
    std::printf("Consumed %d\n", item);
    time::sleep(random::random());
  }
}

int main(int argc, char** argv) {
  read_quick_flag(argc, argv);
  threading::Thread producer_thread(producer);
  threading::Thread consumer_thread(consumer);
  producer_thread.start();
  consumer_thread.start();
  producer_thread.join();
  consumer_thread.join();
}
