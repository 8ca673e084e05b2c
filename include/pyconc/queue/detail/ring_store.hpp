// The storage of a FIFO queue: a ring with one lock for the putters and one for the
// getters (the two-lock queue of Michael and Scott, on arrays).
//
//   putters ──put lock──► slot of put_segment_ ──publish tail_──► getters (get lock) ──► head_
//
// Bounded, the ring is one segment of `capacity` slots whose `next` is itself. Unbounded
// (capacity 0), it is a chain of ~4 KiB segments: putters link a new one when theirs is
// full, getters free (or keep as the spare) the one they leave, so there is no second
// store to overflow into and no lock that both sides take.
//
// A lone putter and a lone getter never meet on a lock, and they share almost nothing:
// each side keeps its own position and the furthest position it may go to (the other
// side's last published counter), and reads the other's counter only when it gets
// there. Elements sit densely, so a cache line crosses between the cores once per
// several items instead of once per item; the counters cross once per run of items.
// (The lock-free ring it replaced, D. Vyukov's, moved a sequence-stamped cell line per
// item and a claim counter both sides read: ~12M items/s in queue_1p1c against 25M+.)
//
// Shutdown is the top bit of tail_, set under the put lock: a put either completed
// before it or sees it, and a getter that finds the ring empty with the bit set knows
// no put can follow.
//
// The ring also wakes its own sleepers. A getter about to sleep registers under the put
// lock, so a put, which holds that lock anyway, sees it with a plain read: no atomic
// read-modify-write per item just to ask "is anybody asleep?" (that RMW, one per put
// and one per get, halved queue_1p1c: each one waits for the core's pending stores,
// which miss while the other side reads the same lines). Putters waiting for room
// register under the get lock, symmetrically.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/futex.hpp"
#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/queue/detail/spin_lock.hpp"

namespace pyconc::detail {

enum class PushResult { ok, full, shutdown };
enum class PopResult { ok, empty, shutdown };

template <class T>
class RingStore {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "the ring moves elements in and out of slots under a spin lock, where an exception would wedge it");

 public:
  /// A bounded ring of `capacity` slots, or, with capacity 0, an unbounded queue.
  explicit RingStore(std::size_t capacity)
      : capacity_(capacity), first_(new_segment(capacity > 0 ? capacity : segment_slots())) {
    if (capacity > 0) first_->next = first_;  // one segment, closed on itself
    LockGuard put_guard(put_lock_);
    put_segment_ = first_;
    put_limit_ = capacity > 0 ? capacity : kUnlimited;
    LockGuard get_guard(get_lock_);
    get_segment_ = first_;
  }
  ~RingStore() {
    std::optional<T> out;
    while (try_pop(out) == PopResult::ok) out.reset();
    LockGuard get_guard(get_lock_);
    Segment* s = get_segment_;
    if (capacity_ > 0) {
      free_segment(s);
    } else {
      while (s != nullptr) {
        Segment* next = s->next;
        free_segment(s);
        s = next;
      }
      free_segment(spare_.exchange(nullptr, std::memory_order_acquire));
    }
  }
  RingStore(const RingStore&) = delete;
  RingStore& operator=(const RingStore&) = delete;

  /// Moves from `item` only on success. The element is made in its slot under the put
  /// lock, after the checks: a full or shut-down ring never copies, and if making the
  /// element throws, the exception propagates and nothing changed (the slot is not
  /// published, the lock is released).
  template <class U>
  PushResult try_push(U&& item) PYCONC_EXCLUDES(put_lock_) {
    bool wake;
    {
      LockGuard guard(put_lock_);
      if (put_closed_) return PushResult::shutdown;
      std::uint64_t pos = put_pos_;
      if (pos == put_limit_) {
        put_limit_ = head_.load(std::memory_order_acquire) + capacity_;
        if (pos == put_limit_) return PushResult::full;
      }
      if (put_index_ == put_segment_->slots) {
        // Bounded: back to the start of the one segment. Unbounded: a new segment
        // (bad_alloc leaves everything as it was), linked before any item in it is
        // published, so a getter that reaches the end of this one finds it.
        put_segment_ = capacity_ > 0 ? put_segment_->next : link_segment(put_segment_);
        put_index_ = 0;
      }
      ::new (static_cast<void*>(put_segment_->slot(put_index_))) T(std::forward<U>(item));
      ++put_index_;
      put_pos_ = pos + 1;
      tail_.store(pos + 1, std::memory_order_release);
      wake = sleeping_getters_.claim();
    }
    if (wake) wake_one(get_seq_);
    return PushResult::ok;
  }

  /// On success, `out` holds the item. `shutdown` only when shut down and empty.
  PopResult try_pop(std::optional<T>& out) noexcept PYCONC_EXCLUDES(get_lock_) {
    // Empty: say so without the lock, so that getters polling an empty ring do not
    // pass the get lock's line back and forth. Only when the getters have taken all
    // they last saw: tail_ is the putters' line, and reading it on every get would pull
    // it away from them each time. (Both counters only grow and head never passes
    // tail: equal means every item published by the time tail was read is taken.)
    if (head_.load(std::memory_order_relaxed) == seen_tail_.load(std::memory_order_relaxed)) {
      std::uint64_t tail = tail_.load(std::memory_order_acquire);
      if ((tail & ~kClosed) == head_.load(std::memory_order_relaxed))
        return (tail & kClosed) ? PopResult::shutdown : PopResult::empty;
    }
    bool wake;
    {
      LockGuard guard(get_lock_);
      std::uint64_t pos = get_pos_;
      if (pos == get_limit_) {
        std::uint64_t tail = tail_.load(std::memory_order_acquire);
        get_limit_ = tail & ~kClosed;
        seen_tail_.store(get_limit_, std::memory_order_relaxed);
        if (pos == get_limit_) return (tail & kClosed) ? PopResult::shutdown : PopResult::empty;
      }
      if (get_index_ == get_segment_->slots) {
        Segment* done = get_segment_;
        get_segment_ = done->next;  // linked before the item we know of was published
        get_index_ = 0;
        if (capacity_ == 0) recycle_segment(done);
      }
      T* p = get_segment_->slot(get_index_);
      out.emplace(std::move(*p));
      p->~T();
      ++get_index_;
      get_pos_ = pos + 1;
      head_.store(pos + 1, std::memory_order_release);
      wake = sleeping_putters_.claim();
    }
    if (wake) wake_one(put_seq_);
    return PopResult::ok;
  }

  std::size_t size() const noexcept {
    std::uint64_t head = head_.load(std::memory_order_relaxed);
    std::uint64_t tail = tail_.load(std::memory_order_relaxed) & ~kClosed;
    return tail > head ? static_cast<std::size_t>(tail - head) : 0;
  }
  /// Items ever pushed (the put position).
  std::uint64_t pushed() const noexcept { return tail_.load(std::memory_order_acquire) & ~kClosed; }
  bool closed() const noexcept { return (tail_.load(std::memory_order_acquire) & kClosed) != 0; }
  void close() noexcept PYCONC_EXCLUDES(put_lock_) {
    LockGuard guard(put_lock_);
    put_closed_ = true;
    tail_.store(put_pos_ | kClosed, std::memory_order_release);
  }

  // Sleeping: a getter waits for an item (or shutdown), a putter for room (or shutdown).
  //
  //     key = prepare_get_wait();   // registered: every later put sees it
  //     if (try_pop(out) != empty) cancel_get_wait(); else get_wait(key, deadline);
  //
  // The key is read before registering: a put that saw the registration bumps the
  // futex word after it, so get_wait() does not sleep through that wake-up; a put that
  // came before it published its item before the re-check's try_pop.
  std::uint32_t prepare_get_wait() noexcept PYCONC_EXCLUDES(put_lock_) {
    std::uint32_t key = get_seq_.load(std::memory_order_acquire);
    LockGuard guard(put_lock_);
    ++sleeping_getters_.waiting;
    return key;
  }
  void cancel_get_wait() noexcept PYCONC_EXCLUDES(put_lock_) {
    LockGuard guard(put_lock_);
    sleeping_getters_.leave();
  }
  /// Sleeps unless woken since prepare_get_wait(); false on timeout. May return early.
  bool get_wait(std::uint32_t key, const Deadline& deadline) noexcept PYCONC_EXCLUDES(put_lock_) {
    bool in_time = futex_wait(get_seq_, key, deadline);
    cancel_get_wait();
    return in_time;
  }
  /// Wakes one sleeping getter if any waits without a wake-up on its way.
  void wake_getter() noexcept PYCONC_EXCLUDES(put_lock_) {
    bool wake;
    {
      LockGuard guard(put_lock_);
      wake = sleeping_getters_.claim();
    }
    if (wake) wake_one(get_seq_);
  }

  std::uint32_t prepare_put_wait() noexcept PYCONC_EXCLUDES(get_lock_) {
    std::uint32_t key = put_seq_.load(std::memory_order_acquire);
    LockGuard guard(get_lock_);
    ++sleeping_putters_.waiting;
    return key;
  }
  void cancel_put_wait() noexcept PYCONC_EXCLUDES(get_lock_) {
    LockGuard guard(get_lock_);
    sleeping_putters_.leave();
  }
  bool put_wait(std::uint32_t key, const Deadline& deadline) noexcept PYCONC_EXCLUDES(get_lock_) {
    bool in_time = futex_wait(put_seq_, key, deadline);
    cancel_put_wait();
    return in_time;
  }
  void wake_putter() noexcept PYCONC_EXCLUDES(get_lock_) {
    bool wake;
    {
      LockGuard guard(get_lock_);
      wake = sleeping_putters_.claim();
    }
    if (wake) wake_one(put_seq_);
  }

  /// Wakes every sleeper of both sides (after close()).
  void wake_all() noexcept {
    get_seq_.fetch_add(1, std::memory_order_acq_rel);
    futex_wake_all(get_seq_);
    put_seq_.fetch_add(1, std::memory_order_acq_rel);
    futex_wake_all(put_seq_);
  }

  /// After close(): removes every item; returns how many.
  std::size_t drain() noexcept {
    std::size_t n = 0;
    std::optional<T> out;
    while (try_pop(out) == PopResult::ok) {
      out.reset();
      ++n;
    }
    return n;
  }

 private:
  // Sleepers of one side, counted under the other side's lock.
  struct Sleepers {
    std::uint32_t waiting = 0;
    std::uint32_t signalled = 0;  // of them, with a wake-up on its way
    // Whether a wake-up is needed: somebody waits without one on its way.
    bool claim() noexcept {
      if (waiting <= signalled) return false;
      ++signalled;
      return true;
    }
    // A sleeper leaves and takes one pending wake-up with it, whichever thread the
    // kernel woke: the counts only decide whether a futex call is needed, and every
    // woken thread re-checks the ring.
    void leave() noexcept {
      --waiting;
      if (signalled != 0) --signalled;
    }
  };
  static void wake_one(std::atomic<std::uint32_t>& seq) noexcept {
    seq.fetch_add(1, std::memory_order_acq_rel);
    futex_wake(seq, 1);
  }

  static constexpr std::uint64_t kClosed = std::uint64_t{1} << 63;
  static constexpr std::uint64_t kUnlimited = ~kClosed;
  static constexpr std::size_t kLine = 128;
  static constexpr std::size_t kAlign = alignof(T) > kLine ? alignof(T) : kLine;

  // A run of slots: the whole ring when bounded (its `next` is itself), or one link of
  // the unbounded chain (putters append, getters free what they have passed).
  struct Segment {
    Segment* next = nullptr;
    std::size_t slots = 0;
    T* slot(std::size_t i) noexcept {
      return std::launder(reinterpret_cast<T*>(reinterpret_cast<unsigned char*>(this) + kHeader)) + i;
    }
  };
  static constexpr std::size_t kHeader = (sizeof(Segment) + kAlign - 1) / kAlign * kAlign;
  // Slots per segment of an unbounded queue: about 4 KiB of elements, at least 32.
  static constexpr std::size_t segment_slots() noexcept { return sizeof(T) >= 128 ? 32 : 4096 / sizeof(T); }

  static Segment* new_segment(std::size_t slots) {
    void* raw = ::operator new(kHeader + slots * sizeof(T), std::align_val_t(kAlign));
    auto* s = ::new (raw) Segment;
    s->slots = slots;
    return s;
  }
  static void free_segment(Segment* s) noexcept {
    if (s != nullptr) ::operator delete(static_cast<void*>(s), std::align_val_t(kAlign));
  }
  // Unbounded: the segment after `last`, the spare one if the getters left one.
  Segment* link_segment(Segment* last) {
    Segment* s = spare_.exchange(nullptr, std::memory_order_acquire);
    if (s == nullptr) s = new_segment(segment_slots());
    s->next = nullptr;
    last->next = s;
    return s;
  }
  // Unbounded: a segment the getters have passed; kept as the spare (one is enough to
  // make a steady stream allocate nothing).
  void recycle_segment(Segment* s) noexcept { free_segment(spare_.exchange(s, std::memory_order_acq_rel)); }

  const std::size_t capacity_;  // 0: unbounded
  Segment* const first_;
  std::atomic<Segment*> spare_{nullptr};
  // The putters' line: their lock and what they need under it.
  alignas(kLine) SpinLock put_lock_;
  std::uint64_t put_pos_ PYCONC_GUARDED_BY(put_lock_) = 0;
  std::uint64_t put_limit_ PYCONC_GUARDED_BY(put_lock_) = 0;  // the last head seen + capacity
  Segment* put_segment_ PYCONC_GUARDED_BY(put_lock_) = nullptr;
  std::size_t put_index_ PYCONC_GUARDED_BY(put_lock_) = 0;  // the next slot in put_segment_
  bool put_closed_ PYCONC_GUARDED_BY(put_lock_) = false;
  Sleepers sleeping_getters_ PYCONC_GUARDED_BY(put_lock_);  // seen by every put
  // Published by the putters (put_pos_ | kClosed), read by getters when they run out.
  alignas(kLine) std::atomic<std::uint64_t> tail_{0};
  // The getters' line.
  alignas(kLine) SpinLock get_lock_;
  std::uint64_t get_pos_ PYCONC_GUARDED_BY(get_lock_) = 0;
  std::uint64_t get_limit_ PYCONC_GUARDED_BY(get_lock_) = 0;  // the last tail seen
  Segment* get_segment_ PYCONC_GUARDED_BY(get_lock_) = nullptr;
  std::size_t get_index_ PYCONC_GUARDED_BY(get_lock_) = 0;  // the next slot in get_segment_
  std::atomic<std::uint64_t> seen_tail_{0};  // get_limit_, for try_pop's look without the lock
  Sleepers sleeping_putters_ PYCONC_GUARDED_BY(get_lock_);  // seen by every get
  // Published by the getters, read by putters when they run out.
  alignas(kLine) std::atomic<std::uint64_t> head_{0};
  // The futex words sleepers wait on; written only to wake somebody.
  alignas(kLine) std::atomic<std::uint32_t> get_seq_{0};
  std::atomic<std::uint32_t> put_seq_{0};
};

}  // namespace pyconc::detail
