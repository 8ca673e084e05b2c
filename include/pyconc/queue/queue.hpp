// queue.Queue, queue.LifoQueue, queue.PriorityQueue.
#pragma once

#include <functional>

#include "pyconc/queue/basic_queue.hpp"

namespace pyconc::queue {

/// A first-in, first-out queue for passing items between threads (Python's queue.Queue).
/// maxsize <= 0 means unbounded.
///
///     queue::Queue<int> q(5);              // queue.Queue(maxsize=5)
///     q.put(1);                            // blocks while full
///     int x = q.get();                     // blocks while empty
///     q.task_done();
///     q.join();                            // until every item put is done
///     if (auto y = q.try_get()) use(*y);   // C++: no exception on the fast path
///
/// Errors: get_nowait/get(false)/a timed-out get raise queue::Empty; put_nowait/
/// put(x, false)/a timed-out put raise queue::Full; after shutdown() puts raise
/// queue::ShutDown, and gets do once the queue is empty; a negative timeout raises
/// ValueError; task_done() more often than put() raises ValueError.
///
/// Thread safety: every member may be called from any thread.
///
/// Memory ordering: everything a thread did before put(x) is visible to the thread whose
/// get() returned x.
///
/// Differences from Python: items are moved in and out (move-only types work); a
/// Queue of nothrow-movable items runs on a ring with one lock for putters and one for
/// getters, so qsize()/empty()/full() are snapshots (as Python's are, in effect), and
/// the element's copy or move into the queue runs under the putters' lock: it must not
/// wait for another user of the same queue. The `queue.Queue` attributes `mutex`,
/// `not_empty`, `not_full`, `all_tasks_done` (the internal lock and conditions) do not
/// exist: pyconc's queue has no single lock to expose; `unfinished_tasks` is
/// unfinished_tasks().
template <class T>
class Queue : public detail::BasicQueue<T, detail::FifoStore<T>> {
 public:
  explicit Queue(long long maxsize = 0) : detail::BasicQueue<T, detail::FifoStore<T>>(maxsize) {}
};

/// A last-in, first-out queue (Python's queue.LifoQueue): the most recently put item is
/// gotten first. Everything else is Queue's.
template <class T>
class LifoQueue : public detail::BasicQueue<T, detail::LockedStore<T, detail::LifoOrder<T>>> {
 public:
  explicit LifoQueue(long long maxsize = 0)
      : detail::BasicQueue<T, detail::LockedStore<T, detail::LifoOrder<T>>>(maxsize) {}
};

/// A priority queue (Python's queue.PriorityQueue): the smallest item by `Compare` is
/// gotten first (Python's heapq order); use std::pair/std::tuple as Python uses
/// (priority, data) tuples. Everything else is Queue's.
///
/// Differences from Python: equal items come out in an unspecified order, as from
/// Python's heap.
template <class T, class Compare = std::less<T>>
class PriorityQueue : public detail::BasicQueue<T, detail::LockedStore<T, detail::PriorityOrder<T, Compare>>> {
 public:
  explicit PriorityQueue(long long maxsize = 0)
      : detail::BasicQueue<T, detail::LockedStore<T, detail::PriorityOrder<T, Compare>>>(maxsize) {}
};

}  // namespace pyconc::queue
