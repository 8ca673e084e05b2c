// The one implementation behind Queue, LifoQueue and PriorityQueue (CPython's Queue with
// its _put/_get hooks): blocking, timeouts, task accounting and shutdown over a store.
//
//   put ──► store.try_push ─ok─► wake a sleeping getter, if any ──► it takes the item
//             │ full: spin with backoff, then sleep until a get makes room
//   get ──► store.try_pop  ─ok─► wake a sleeping putter, if any ──► it puts its item
//             │ empty: spin with backoff, then sleep until a put
//   task_done ─► settled += 1 ─(settled == pushed)─► all_tasks_done.notify_all ─► join()
//
// The stores (queue/detail/ring_store.hpp, queue/detail/locked_store.hpp) decide the order and where
// the items live. The FIFO ring (bounded or not) counts its own sleepers under its
// locks; the other stores use the event counts here, which cost one atomic instruction per call
// while nobody sleeps.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

#include "pyconc/errors.hpp"
#include "pyconc/queue/detail/eventcount.hpp"
#include "pyconc/queue/detail/locked_store.hpp"
#include "pyconc/queue/detail/ring_store.hpp"
#include "pyconc/threading/timeout.hpp"

namespace pyconc::detail {

template <class T, class Store>
class BasicQueue {
 public:
  explicit BasicQueue(long long maxsize)
      : maxsize_(maxsize),
        store_(maxsize > 0 ? static_cast<std::size_t>(maxsize) : 0) {}
  BasicQueue(const BasicQueue&) = delete;
  BasicQueue& operator=(const BasicQueue&) = delete;

  /// Puts `item`, waiting for a free slot if the queue is full (Python: put(item)).
  void put(T item) { put_until(item, Deadline::never(), true); }
  /// block=false: Full at once if there is no free slot.
  void put(T item, bool block) { put_until(item, Deadline::never(), block); }
  /// Waits at most `timeout` for a free slot, then raises Full; negative: ValueError.
  void put(T item, bool block, Seconds timeout) {
    // Python's order of checks: shut down first, then the timeout; an unbounded queue
    // never waits, so it never looks at the timeout.
    if (block && maxsize_ > 0) {
      if (store_.closed()) throw queue::ShutDown("put to a queue that is shut down");
      put_until(item, deadline_for(TimeoutRule::queue, timeout), true);
    } else {
      put_until(item, Deadline::never(), block);
    }
  }
  void put(T item, Seconds timeout) { put(std::move(item), true, timeout); }
  /// put(item, false).
  void put_nowait(T item) { put_until(item, Deadline::never(), false); }

  /// Removes and returns the next item, waiting for one if needed (Python: get()).
  T get() { return get_until(Deadline::never(), true); }
  /// block=false: Empty at once if there is no item.
  T get(bool block) { return get_until(Deadline::never(), block); }
  /// Waits at most `timeout`, then raises Empty; negative: ValueError.
  T get(bool block, Seconds timeout) {
    if (!block) return get_until(Deadline::never(), false);
    // Python's order of checks: shut down and empty first, then the timeout.
    if (store_.closed() && store_.size() == 0) throw queue::ShutDown("get from a queue that is shut down and empty");
    return get_until(deadline_for(TimeoutRule::queue, timeout), true);
  }
  T get(Seconds timeout) { return get(true, timeout); }
  /// get(false).
  T get_nowait() { return get_until(Deadline::never(), false); }

  /// C++: puts without blocking or throwing; false when full or shut down (then `item`
  /// is left untouched).
  bool try_put(T&& item) { return push(item) == PushResult::ok; }
  bool try_put(const T& item) { return push(item) == PushResult::ok; }
  /// C++: gets without blocking or throwing; nullopt when empty (or shut down).
  std::optional<T> try_get() {
    std::optional<T> out;
    pop(out);
    return out;
  }

  /// The approximate number of items (as Python's: another thread may change it).
  std::size_t qsize() const noexcept { return store_.size(); }
  bool empty() const noexcept { return qsize() == 0; }
  /// True when maxsize > 0 and the queue holds maxsize items.
  bool full() const noexcept { return maxsize_ > 0 && qsize() >= static_cast<std::size_t>(maxsize_); }
  long long maxsize() const noexcept { return maxsize_; }

  /// Marks one gotten item as processed; ValueError when called more often than items
  /// were put.
  void task_done() {
    std::uint64_t settled = settled_.fetch_add(1, std::memory_order_acq_rel) + 1;
    std::uint64_t pushed = store_.pushed();
    if (settled > pushed) {
      settled_.fetch_sub(1, std::memory_order_acq_rel);
      throw ValueError("task_done() called too many times");
    }
    if (settled == pushed) all_tasks_done_.notify_all();
  }
  /// Blocks until every item put has been gotten and marked task_done().
  void join() {
    for (;;) {
      if (unfinished() == 0) return;
      std::uint32_t key = all_tasks_done_.prepare_wait();
      if (unfinished() == 0) {
        all_tasks_done_.cancel_wait();
        return;
      }
      all_tasks_done_.wait(key, Deadline::never());
    }
  }
  /// Items put but not yet marked done (Python's unfinished_tasks).
  std::uint64_t unfinished_tasks() const noexcept { return unfinished(); }

  /// Python 3.13's shutdown: later puts raise ShutDown; gets drain the remaining items,
  /// then raise ShutDown; every blocked caller wakes. immediate=true discards the items
  /// (counting them done, so join() returns once the others are done).
  void shutdown(bool immediate = false) {
    store_.close();
    if (immediate) {
      std::size_t n = store_.drain();
      settled_.fetch_add(n, std::memory_order_acq_rel);
      all_tasks_done_.notify_all();
    }
    wake_all();
  }
  /// Whether shutdown() was called (Python's is_shutdown attribute).
  bool is_shutdown() const { return store_.closed(); }

 private:
  // Before sleeping, a waiter spins: most waits on a busy queue end within microseconds,
  // and a sleep + wake-up costs two system calls. It tries again after kFirstPause
  // pauses, then twice that, then every kMaxPause, so while the other side works
  // through a run of items, the waiter seldom reads the counter that side is writing
  // (each read pulls its cache line away and costs the writer a miss), and then takes
  // the whole run (queue_1p1c: 22M items/s with a first pause of 32, 17M with 16). About
  // kSpinBudget pauses in all (~20 µs on current x86), then it sleeps. No sched_yield:
  // when threads outnumber cores, a yielding waiter steals the time of the very thread
  // it waits for.
  static constexpr int kFirstPause = 32;
  static constexpr int kMaxPause = 128;
  static constexpr int kSpinBudget = 1024;
  class Backoff {
   public:
    explicit Backoff(const Deadline& deadline) : deadline_(deadline) {}
    /// Waits a little; false when it is time to sleep instead (budget spent or deadline
    /// passed).
    bool pause() noexcept {
      if (spent_ >= kSpinBudget) return false;
      for (int i = 0; i < next_; ++i) cpu_relax();
      spent_ += next_;
      next_ = std::min(next_ * 2, kMaxPause);
      return !(next_ == kMaxPause && deadline_.expired());
    }

   private:
    const Deadline& deadline_;
    int next_ = kFirstPause;
    int spent_ = 0;
  };

  std::uint64_t unfinished() const noexcept {
    // settled first: both counts only grow, so pushed read later >= pushed at the time
    // settled was read, and 0 means there was a moment with nothing unfinished. (In the
    // other order, a put and a task_done() between the two reads would look like 0.)
    std::uint64_t settled = settled_.load(std::memory_order_acquire);
    std::uint64_t pushed = store_.pushed();
    return pushed > settled ? pushed - settled : 0;
  }

  template <class U>
  PushResult push(U& item) {
    PushResult r = store_.try_push(std::forward<U>(item));
    if (r == PushResult::ok && !ring_wakes()) not_empty_.notify_one();
    return r;
  }
  PopResult pop(std::optional<T>& out) {
    PopResult r = store_.try_pop(out);
    // Unbounded: no put ever waits, so there is nobody to tell.
    if (r == PopResult::ok && maxsize_ > 0 && !ring_wakes()) not_full_.notify_one();
    return r;
  }

  // A thread that slept passes the baton: while more items (or free slots) remain, the
  // next sleeper is woken too, so a burst never leaves sleepers behind work.
  void pass_on_not_empty() {
    if (store_.size() > 0) wake_getter();
  }
  void pass_on_not_full() {
    if (maxsize_ <= 0 || store_.size() < static_cast<std::size_t>(maxsize_)) wake_putter();
  }

  // Sleeping and waking, by the ring or by the event counts (see ring_).
  static constexpr bool kSelfWaking = requires(Store& store) { store.self_waking(); };
  using SelfWakingRing = std::conditional_t<kSelfWaking, RingStore<T>, void>;
  static SelfWakingRing* self_waking(Store& store) noexcept {
    if constexpr (kSelfWaking) return store.self_waking();
    else return nullptr;
  }
  bool ring_wakes() const noexcept { return ring_ != nullptr; }
  std::uint32_t prepare_get_wait() noexcept {
    if constexpr (kSelfWaking) if (ring_) return ring_->prepare_get_wait();
    return not_empty_.prepare_wait();
  }
  void cancel_get_wait() noexcept {
    if constexpr (kSelfWaking) if (ring_) return ring_->cancel_get_wait();
    not_empty_.cancel_wait();
  }
  bool get_wait(std::uint32_t key, const Deadline& deadline) noexcept {
    if constexpr (kSelfWaking) if (ring_) return ring_->get_wait(key, deadline);
    return not_empty_.wait(key, deadline);
  }
  void wake_getter() noexcept {
    if constexpr (kSelfWaking) if (ring_) return ring_->wake_getter();
    not_empty_.notify_one();
  }
  std::uint32_t prepare_put_wait() noexcept {
    if constexpr (kSelfWaking) if (ring_) return ring_->prepare_put_wait();
    return not_full_.prepare_wait();
  }
  void cancel_put_wait() noexcept {
    if constexpr (kSelfWaking) if (ring_) return ring_->cancel_put_wait();
    not_full_.cancel_wait();
  }
  bool put_wait(std::uint32_t key, const Deadline& deadline) noexcept {
    if constexpr (kSelfWaking) if (ring_) return ring_->put_wait(key, deadline);
    return not_full_.wait(key, deadline);
  }
  void wake_putter() noexcept {
    if constexpr (kSelfWaking) if (ring_) return ring_->wake_putter();
    not_full_.notify_one();
  }
  void wake_all() noexcept {
    if constexpr (kSelfWaking) if (ring_) return ring_->wake_all();
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  void put_until(T& item, const Deadline& deadline, bool block) {
    bool slept = false;
    Backoff backoff(deadline);
    for (;;) {
      PushResult r = push(item);
      if (r == PushResult::ok) {
        if (slept) pass_on_not_full();
        return;
      }
      if (r == PushResult::shutdown) throw queue::ShutDown("put to a queue that is shut down");
      if (!block) throw queue::Full("queue is full");
      if (backoff.pause()) continue;
      std::uint32_t key = prepare_put_wait();
      r = push(item);
      if (r != PushResult::full) {
        cancel_put_wait();
        if (r == PushResult::ok) return;
        throw queue::ShutDown("put to a queue that is shut down");
      }
      slept = true;
      if (!put_wait(key, deadline)) {
        r = push(item);
        if (r == PushResult::ok) {
          pass_on_not_full();
          return;
        }
        if (r == PushResult::shutdown) throw queue::ShutDown("put to a queue that is shut down");
        throw queue::Full("queue is full");
      }
    }
  }

  T get_until(const Deadline& deadline, bool block) {
    std::optional<T> out;
    bool slept = false;
    Backoff backoff(deadline);
    for (;;) {
      PopResult r = pop(out);
      if (r == PopResult::ok) {
        if (slept) pass_on_not_empty();
        return std::move(*out);
      }
      if (r == PopResult::shutdown) throw queue::ShutDown("get from a queue that is shut down and empty");
      if (!block) throw queue::Empty("queue is empty");
      if (backoff.pause()) continue;
      std::uint32_t key = prepare_get_wait();
      r = pop(out);
      if (r != PopResult::empty) {
        cancel_get_wait();
        if (r == PopResult::ok) return std::move(*out);
        throw queue::ShutDown("get from a queue that is shut down and empty");
      }
      slept = true;
      if (!get_wait(key, deadline)) {
        r = pop(out);
        if (r == PopResult::ok) {
          pass_on_not_empty();
          return std::move(*out);
        }
        if (r == PopResult::shutdown) throw queue::ShutDown("get from a queue that is shut down and empty");
        throw queue::Empty("queue is empty");
      }
    }
  }

  const long long maxsize_;
  Store store_;
  // The FIFO ring wakes its own sleepers (queue/detail/ring_store.hpp: no atomic
  // read-modify-write per item); the other stores leave it to these event counts.
  SelfWakingRing* const ring_ = self_waking(store_);
  EventCount not_empty_;
  EventCount not_full_;
  EventCount all_tasks_done_;
  alignas(128) std::atomic<std::uint64_t> settled_{0};  // task_done() calls + discarded items
};

}  // namespace pyconc::detail
