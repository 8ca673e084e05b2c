// The storage of a bounded FIFO queue: a lock-free multi-producer multi-consumer ring.
//
//   producers ──claim enq_ (CAS)──► cell[enq % cap] ──publish cell.seq──► consumers claim deq_
//
// Each cell carries a sequence number saying whose turn it is (D. Vyukov's bounded
// queue): a producer may fill cell i when seq == pos, a consumer may empty it when
// seq == pos + 1; emptying sets seq = pos + capacity, the producer's turn one lap later.
// Producers and consumers touch different counters, so a lone producer and a lone
// consumer share only the cells' cache lines.
//
// Shutdown is the top bit of enq_: once set, no producer can claim a cell (its CAS
// fails and it sees the bit), so a put can never slip in after shutdown().
//
// Cells of rings up to kPadUpTo cells sit one per cache line: a consumer right behind
// the producer then reads a line the producer is done with, instead of pulling away the
// line it is writing the next items into (3x the throughput in queue_1p1c). Larger
// rings are dense, to bound memory.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "pyconc/detail/futex.hpp"

namespace pyconc::detail {

enum class PushResult { ok, full, shutdown };
enum class PopResult { ok, empty, shutdown };

template <class T>
class RingStore {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "a ring moves elements in and out of claimed cells, where an exception would wedge it");

 public:
  /// `capacity` >= 2.
  explicit RingStore(std::size_t capacity)
      : capacity_(capacity),
        mask_((capacity & (capacity - 1)) == 0 ? capacity - 1 : 0),
        stride_(capacity <= kPadUpTo ? round_up(sizeof(Cell), kLine) : sizeof(Cell)),
        memory_(static_cast<unsigned char*>(::operator new(capacity * stride_, std::align_val_t(kAlign)))) {
    for (std::size_t i = 0; i < capacity; ++i) ::new (static_cast<void*>(memory_ + i * stride_)) Cell(i);
  }
  ~RingStore() {
    std::optional<T> out;
    while (try_pop(out) == PopResult::ok) out.reset();
    for (std::size_t i = 0; i < capacity_; ++i) cell(i).~Cell();
    ::operator delete(memory_, std::align_val_t(kAlign));
  }
  RingStore(const RingStore&) = delete;
  RingStore& operator=(const RingStore&) = delete;

  /// Moves from `item` only on success. If making the element from `item` throws, the
  /// exception propagates and nothing changed: a conversion or copy that may throw is
  /// made before a cell is claimed (a claimed cell left unfilled would stop every getter
  /// behind it), and only the nothrow move happens in the cell.
  template <class U>
  PushResult try_push(U&& item) {
    if constexpr (std::is_nothrow_constructible_v<T, U&&>) {
      return push_made(std::forward<U>(item));
    } else {
      T made(std::forward<U>(item));  // may throw; nothing is claimed yet
      return push_made(std::move(made));
    }
  }

 private:
  template <class U>
  PushResult push_made(U&& item) noexcept {
    std::uint64_t pos = enq_.load(std::memory_order_relaxed);
    for (;;) {
      if (pos & kClosed) return PushResult::shutdown;
      Cell& cell = this->cell(index(pos));
      std::uint64_t seq = cell.seq.load(std::memory_order_acquire);
      auto dif = static_cast<std::int64_t>(seq - pos);
      if (dif == 0) {
        if (enq_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed, std::memory_order_relaxed)) {
          ::new (static_cast<void*>(cell.storage)) T(std::forward<U>(item));
          cell.seq.store(pos + 1, std::memory_order_release);
          return PushResult::ok;
        }
      } else if (dif < 0) {
        return PushResult::full;  // the cell of this position is a lap behind: full
      } else {
        pos = enq_.load(std::memory_order_relaxed);
      }
    }
  }

 public:
  /// On success, `out` holds the item. `shutdown` only when shut down and empty with no
  /// put still in flight.
  PopResult try_pop(std::optional<T>& out) {
    std::uint64_t pos = deq_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& cell = this->cell(index(pos));
      std::uint64_t seq = cell.seq.load(std::memory_order_acquire);
      auto dif = static_cast<std::int64_t>(seq - (pos + 1));
      if (dif == 0) {
        if (deq_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed, std::memory_order_relaxed)) {
          T* p = std::launder(reinterpret_cast<T*>(cell.storage));
          out.emplace(std::move(*p));
          p->~T();
          cell.seq.store(pos + capacity_, std::memory_order_release);
          return PopResult::ok;
        }
      } else if (dif < 0) {
        // Nothing published at this position. A producer may have claimed it and be
        // about to publish: that is "empty" for a non-blocking get, never "shut down".
        std::uint64_t enq = enq_.load(std::memory_order_acquire);
        if ((enq & kClosed) && (enq & ~kClosed) == pos) return PopResult::shutdown;
        return PopResult::empty;
      } else {
        pos = deq_.load(std::memory_order_relaxed);
      }
    }
  }

  std::size_t size() const noexcept {
    std::uint64_t deq = deq_.load(std::memory_order_relaxed);
    std::uint64_t enq = enq_.load(std::memory_order_relaxed) & ~kClosed;
    return enq > deq ? static_cast<std::size_t>(enq - deq) : 0;
  }
  /// Items ever pushed (the enqueue position).
  std::uint64_t pushed() const noexcept { return enq_.load(std::memory_order_acquire) & ~kClosed; }
  bool closed() const noexcept { return (enq_.load(std::memory_order_acquire) & kClosed) != 0; }
  void close() noexcept { enq_.fetch_or(kClosed, std::memory_order_acq_rel); }

  /// After close(): removes every item (waiting for puts in flight); returns how many.
  std::size_t drain() {
    std::size_t n = 0;
    std::optional<T> out;
    for (;;) {
      PopResult r = try_pop(out);
      if (r == PopResult::ok) {
        out.reset();
        ++n;
      } else if (r == PopResult::shutdown) {
        return n;
      } else {
        cpu_relax();  // a put claimed a cell and is about to publish it
      }
    }
  }

 private:
  static constexpr std::uint64_t kClosed = std::uint64_t{1} << 63;
  static constexpr std::size_t kLine = 64;
  static constexpr std::size_t kPadUpTo = 4096;
  struct Cell {
    explicit Cell(std::uint64_t s) : seq(s) {}
    std::atomic<std::uint64_t> seq;
    alignas(T) unsigned char storage[sizeof(T)];
  };
  static constexpr std::size_t kAlign = alignof(Cell) > kLine ? alignof(Cell) : kLine;
  static constexpr std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }
  Cell& cell(std::size_t i) const noexcept { return *std::launder(reinterpret_cast<Cell*>(memory_ + i * stride_)); }
  std::size_t index(std::uint64_t pos) const noexcept {
    return mask_ ? static_cast<std::size_t>(pos & mask_) : static_cast<std::size_t>(pos % capacity_);
  }

  const std::size_t capacity_;
  const std::size_t mask_;  // capacity - 1 when it is a power of two, else 0
  const std::size_t stride_;  // bytes from one cell to the next
  unsigned char* const memory_;
  alignas(64) std::atomic<std::uint64_t> enq_{0};
  alignas(64) std::atomic<std::uint64_t> deq_{0};
};

}  // namespace pyconc::detail
