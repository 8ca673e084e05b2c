// The C++ peers of queue_1p1c (bench/workloads/queue_1p1c.cpp): one producer thread puts
// N ints and an end marker, one consumer thread gets them all, through a queue of
// maxsize `capacity` where the peer has one. Each function runs one peer under the same
// driver as pyconc (bench::producer_consumer, which checks the sum) and prints its line.
#pragma once

#include <concurrentqueue/blockingconcurrentqueue.h>
#include <tbb/concurrent_queue.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string_view>

#include "workload.hpp"

namespace peers {

/// The textbook bounded blocking queue: a deque, a mutex and two condition variables.
class MutexCondvarQueue {
 public:
  explicit MutexCondvarQueue(long capacity) : capacity_(static_cast<std::size_t>(capacity)) {}
  void put(long v) {
    std::unique_lock lock(m_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_; });
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
  const std::size_t capacity_;
  std::mutex m_;
  std::condition_variable not_empty_, not_full_;
  std::deque<long> items_;
};

inline void std_mutex_2condvar_bounded(std::string_view impl, long long n, long capacity) {
  MutexCondvarQueue q(capacity);
  double d = bench::producer_consumer(n, [&](long v) { q.put(v); }, [&] { return q.get(); });
  bench::emit("queue_1p1c", impl, n / d, "items/s", n);
}

/// TBB's bounded blocking queue, same capacity; push blocks while full, pop while empty.
inline void tbb_concurrent_bounded_queue(std::string_view impl, long long n, long capacity) {
  tbb::concurrent_bounded_queue<long> q;
  q.set_capacity(capacity);
  double d = bench::producer_consumer(n, [&](long v) { q.push(v); }, [&] {
    long v = 0;
    q.pop(v);
    return v;
  });
  bench::emit("queue_1p1c", impl, n / d, "items/s", n);
}

/// moodycamel's lock-free queue with a blocking dequeue. Unbounded: the producer never
/// waits for room, so it does less than a queue of maxsize `capacity` (which it ignores).
inline void moodycamel_blocking_unbounded(std::string_view impl, long long n, long /*capacity*/) {
  moodycamel::BlockingConcurrentQueue<long> q;
  double d = bench::producer_consumer(n, [&](long v) { q.enqueue(v); }, [&] {
    long v = 0;
    q.wait_dequeue(v);
    return v;
  });
  bench::emit("queue_1p1c", impl, n / d, "items/s", n);
}

}  // namespace peers
