// queue.SimpleQueue: an unbounded FIFO queue without task tracking.
#pragma once

#include "pyconc/queue/basic_queue.hpp"

namespace pyconc::queue {

/// An unbounded first-in, first-out queue (Python's queue.SimpleQueue): put never
/// blocks; no task_done/join/shutdown.
///
///     queue::SimpleQueue<std::string> q;
///     q.put("job");
///     std::string job = q.get();
///
/// Thread safety: every member may be called from any thread.
///
/// Memory ordering: everything a thread did before put(x) is visible to the thread whose
/// get() returned x.
///
/// Differences from Python: put(item, block, timeout) accepts and ignores block and
/// timeout, as Python's does; items are moved in and out.
template <class T>
class SimpleQueue {
 public:
  SimpleQueue() : q_(0) {}

  void put(T item) { q_.put(std::move(item)); }
  void put(T item, bool /*block*/) { q_.put(std::move(item)); }
  void put(T item, bool /*block*/, Seconds /*timeout*/) { q_.put(std::move(item)); }
  void put_nowait(T item) { q_.put(std::move(item)); }
  T get() { return q_.get(); }
  T get(bool block) { return q_.get(block); }
  T get(bool block, Seconds timeout) { return q_.get(block, timeout); }
  T get(Seconds timeout) { return q_.get(timeout); }
  T get_nowait() { return q_.get_nowait(); }
  bool try_put(T&& item) { return q_.try_put(std::move(item)); }
  bool try_put(const T& item) { return q_.try_put(item); }
  std::optional<T> try_get() { return q_.try_get(); }
  bool empty() const noexcept { return q_.empty(); }
  std::size_t qsize() const noexcept { return q_.qsize(); }

 private:
  detail::BasicQueue<T, detail::FifoStore<T>> q_;
};

}  // namespace pyconc::queue
