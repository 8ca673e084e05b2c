// The storage of LIFO and priority queues, and of FIFO queues whose elements' move may
// throw: a container behind a short lock. The ordering is a hook type, as CPython's Queue subclasses override _put/_get:
//
//   struct Order { void put(T&&); T get(); std::size_t size() const; };
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/queue/detail/ring_store.hpp"
#include "pyconc/threading/lock.hpp"

namespace pyconc::detail {

/// First in, first out (Queue, SimpleQueue).
template <class T>
struct FifoOrder {
  std::deque<T> items;
  template <class U>
  void put(U&& item) { items.push_back(std::forward<U>(item)); }
  T get() {
    T item = std::move(items.front());
    items.pop_front();
    return item;
  }
  std::size_t size() const noexcept { return items.size(); }
};

/// Last in, first out (LifoQueue).
template <class T>
struct LifoOrder {
  std::vector<T> items;
  template <class U>
  void put(U&& item) { items.push_back(std::forward<U>(item)); }
  T get() {
    T item = std::move(items.back());
    items.pop_back();
    return item;
  }
  std::size_t size() const noexcept { return items.size(); }
};

/// Smallest first by `Compare` (PriorityQueue; Python's heapq order).
template <class T, class Compare>
struct PriorityOrder {
  std::vector<T> items;
  Compare less;
  // std::*_heap keep the largest first; invert the comparison to get the smallest.
  bool greater(const T& a, const T& b) const { return less(b, a); }
  template <class U>
  void put(U&& item) {
    items.push_back(std::forward<U>(item));
    std::push_heap(items.begin(), items.end(), [this](const T& a, const T& b) { return greater(a, b); });
  }
  T get() {
    std::pop_heap(items.begin(), items.end(), [this](const T& a, const T& b) { return greater(a, b); });
    T item = std::move(items.back());
    items.pop_back();
    return item;
  }
  std::size_t size() const noexcept { return items.size(); }
};

template <class T, class Order>
class LockedStore {
 public:
  explicit LockedStore(std::size_t maxsize) : maxsize_(maxsize) {}

  template <class U>
  PushResult try_push(U&& item) PYCONC_EXCLUDES(mutex_) {
    LockGuard guard(mutex_);
    if (closed_) return PushResult::shutdown;
    if (maxsize_ != 0 && order_.size() >= maxsize_) return PushResult::full;
    order_.put(std::forward<U>(item));
    ++pushed_;
    size_.store(order_.size(), std::memory_order_release);
    return PushResult::ok;
  }
  PopResult try_pop(std::optional<T>& out) PYCONC_EXCLUDES(mutex_) {
    // Empty and open: say so without the lock, so that waiting consumers polling an
    // empty queue do not take the lock away from the producers. (A push that this
    // misses is followed by the producer's notification, which wakes the consumer.)
    if (size_.load(std::memory_order_acquire) == 0 && !closed_flag_.load(std::memory_order_acquire))
      return PopResult::empty;
    LockGuard guard(mutex_);
    if (order_.size() == 0) return closed_ ? PopResult::shutdown : PopResult::empty;
    out.emplace(order_.get());
    size_.store(order_.size(), std::memory_order_relaxed);
    return PopResult::ok;
  }
  std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }
  std::uint64_t pushed() const PYCONC_EXCLUDES(mutex_) {
    LockGuard guard(mutex_);
    return pushed_;
  }
  bool closed() const PYCONC_EXCLUDES(mutex_) {
    LockGuard guard(mutex_);
    return closed_;
  }
  void close() PYCONC_EXCLUDES(mutex_) {
    LockGuard guard(mutex_);
    closed_ = true;
    closed_flag_.store(true, std::memory_order_release);
  }
  std::size_t drain() PYCONC_EXCLUDES(mutex_) {
    Order doomed;  // destroyed outside the lock
    std::size_t n;
    {
      LockGuard guard(mutex_);
      n = order_.size();
      std::swap(doomed, order_);
      size_.store(0, std::memory_order_relaxed);
    }
    return n;
  }

 private:
  const std::size_t maxsize_;  // 0: unbounded
  mutable threading::Lock mutex_;
  Order order_ PYCONC_GUARDED_BY(mutex_);
  std::uint64_t pushed_ PYCONC_GUARDED_BY(mutex_) = 0;
  bool closed_ PYCONC_GUARDED_BY(mutex_) = false;
  std::atomic<std::size_t> size_{0};        // a lock-free snapshot for qsize() and try_pop
  std::atomic<bool> closed_flag_{false};    // closed_, readable without the lock
};

/// Queue's storage: the two-lock ring (bounded, or unbounded as a chain of segments).
/// Elements whose move may throw take the locked deque instead (the ring moves elements
/// in and out of its slots under a spin lock, where it must not fail).
template <class T>
class FifoStore {
  static constexpr bool kRing = std::is_nothrow_move_constructible_v<T>;
  using Store = std::conditional_t<kRing, RingStore<T>, LockedStore<T, FifoOrder<T>>>;

 public:
  /// maxsize 0: unbounded.
  explicit FifoStore(std::size_t maxsize) : store_(maxsize) {}
  template <class U>
  PushResult try_push(U&& item) {
    return store_.try_push(std::forward<U>(item));
  }
  PopResult try_pop(std::optional<T>& out) { return store_.try_pop(out); }
  std::size_t size() const noexcept { return store_.size(); }
  std::uint64_t pushed() const { return store_.pushed(); }
  bool closed() const { return store_.closed(); }
  void close() { store_.close(); }
  std::size_t drain() { return store_.drain(); }
  /// The ring, which wakes its own sleepers.
  RingStore<T>* self_waking() noexcept
    requires kRing
  {
    return &store_;
  }

 private:
  Store store_;
};

}  // namespace pyconc::detail
