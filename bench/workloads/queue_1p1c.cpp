// queue_1p1c: a bounded queue of maxsize 1024; one producer thread puts N ints (then an
// end marker), one consumer thread gets them all. pyconc's queue::Queue against the
// C++ peers.
#include <concurrentqueue/blockingconcurrentqueue.h>
#include <tbb/concurrent_queue.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <pyconc/queue.hpp>
#include <string_view>
#include <thread>

#include "workload.hpp"

namespace queue = pyconc::queue;

namespace {

constexpr long kCapacity = 1024;

/// The textbook bounded blocking queue: a deque, a mutex and two condition variables.
class MutexCondvarQueue {
 public:
  void put(long v) {
    std::unique_lock lock(m_);
    not_full_.wait(lock, [&] { return items_.size() < kCapacity; });
    items_.push_back(v);
    lock.unlock();
    not_empty_.notify_one();
  }
  long get() {
    std::unique_lock lock(m_);
    not_empty_.wait(lock, [&] { return !items_.empty(); });
    long v = items_.front();
    items_.pop_front();
    lock.unlock();
    not_full_.notify_one();
    return v;
  }

 private:
  std::mutex m_;
  std::condition_variable not_empty_, not_full_;
  std::deque<long> items_;
};

/// Runs producer and consumer; `put(v)` and `get()` are the queue's calls. -1 ends.
template <class Put, class Get>
void run(std::string_view impl, long long n, Put put, Get get) {
  long long sum = 0;
  auto t0 = std::chrono::steady_clock::now();
  std::thread producer([&] {
    for (long long i = 0; i < n; ++i) put(static_cast<long>(i));
    put(-1);
  });
  std::thread consumer([&] {
    for (long v; (v = get()) != -1;) sum += v;
  });
  producer.join();
  consumer.join();
  double d = bench::seconds_since(t0);
  bench::check(sum == n * (n - 1) / 2, "consumer got every item once");
  bench::emit("queue_1p1c", impl, n / d, "items/s", n);
}

}  // namespace

int main(int argc, char** argv) {
  long long n = bench::arg_n(argc, argv, 1'000'000);
  std::string_view impl = argc > 1 ? argv[1] : "pyconc";
  if (impl == "pyconc") {
    queue::Queue<long> q(kCapacity);
    run(impl, n, [&](long v) { q.put(v); }, [&] { return q.get(); });
  } else if (impl == "std-mutex-2condvar-bounded") {
    MutexCondvarQueue q;
    run(impl, n, [&](long v) { q.put(v); }, [&] { return q.get(); });
  } else if (impl == "tbb-concurrent_bounded_queue") {
    tbb::concurrent_bounded_queue<long> q;
    q.set_capacity(kCapacity);
    run(impl, n, [&](long v) { q.push(v); }, [&] {
      long v = 0;
      q.pop(v);
      return v;
    });
  } else if (impl == "moodycamel-BlockingConcurrentQueue-unbounded") {
    moodycamel::BlockingConcurrentQueue<long> q;
    run(impl, n, [&](long v) { q.enqueue(v); }, [&] {
      long v = 0;
      q.wait_dequeue(v);
      return v;
    });
  } else {
    std::fprintf(stderr, "unknown impl %.*s\n", static_cast<int>(impl.size()), impl.data());
    return 2;
  }
  return 0;
}
