// The shared memory between a pool's parent and its workers: one segment per pool, one
// slot per worker, each slot two single-producer single-consumer byte rings.
//
//   segment: PoolHeader | SlotHeader x n | (inbox bytes, outbox bytes) x n
//
//   parent ──inbox──► worker      messages [u64 length][u64 id][u32 fds][u32 claim][task];
//                                 length 0: stop. fds > 0: that many fds come first on the
//                                 slot's socket (SCM_RIGHTS)
//   parent ◄─outbox── worker      messages [u64 length][u64 task id][u8 status][u32 ns][payload]
//   worker: current = task id    while it runs a task (0 otherwise): what it held if it dies
//
// No lock is shared between processes: each ring has one writer and one reader, so a
// process killed at any instant leaves at worst a message half written, which the
// reader never sees whole (the parent drops it when it finds the writer dead).
//
// Waking: a reader spins ~20 µs, then says it sleeps and sleeps on a futex word in the
// ring (worker side), or in poll() on the pool's eventfd "bell" and the workers' pidfds
// (parent side). A writer wakes a sleeper only when one says it sleeps, so a stream of
// messages costs no system call.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "pyconc/detail/futex.hpp"
#include "pyconc/detail/timeout.hpp"

namespace pyconc::multiprocessing::detail::pool {

constexpr std::uint64_t kMagic = 0x7079636f6e63506cULL;  // "pyconcPl"
constexpr std::size_t kRingBytes = std::size_t{1} << 20;
constexpr std::uint64_t kMaxMessage = std::uint64_t{1} << 40;
constexpr auto kSpinFor = std::chrono::microseconds(20);

enum Status : std::uint8_t { kOk = 0, kRaised = 1, kInitFailed = 2, kSkipped = 3 };

/// Claim words per slot: at most this many tasks are in a worker's hands at once.
constexpr std::uint32_t kClaimWords = 64;
constexpr std::uint32_t kNoClaim = 0xffffffffU;

/// The counters of one ring. `head` is written by the writer only, `tail` by the reader.
struct RingCounters {
  alignas(64) std::atomic<std::uint64_t> head{0};
  alignas(64) std::atomic<std::uint64_t> tail{0};
  // A sleeping reader (worker side) waits on data_seq; a sleeping writer on space_seq.
  alignas(64) std::atomic<std::uint32_t> data_seq{0};
  std::atomic<std::uint32_t> reader_sleeping{0};
  alignas(64) std::atomic<std::uint32_t> space_seq{0};
  std::atomic<std::uint32_t> writer_sleeping{0};
};

struct SlotHeader {
  RingCounters in;   // parent -> worker
  RingCounters out;  // worker -> parent
  alignas(64) std::atomic<std::uint64_t> current{0};
  // Claim-in-worker mode: one word per task in the worker's hands (see PoolTask).
  alignas(64) std::atomic<std::uint32_t> claims[kClaimWords]{};
};

struct PoolHeader {
  std::uint64_t magic;
  std::uint32_t slots;
  std::uint64_t ring_bytes;
  alignas(64) std::atomic<std::uint32_t> collector_sleeping{0};
  std::atomic<std::uint32_t> rung{0};
};

/// Bytes of a segment for `slots` workers.
inline std::size_t segment_bytes(std::uint32_t slots) {
  return sizeof(PoolHeader) + slots * sizeof(SlotHeader) + std::size_t{2} * slots * kRingBytes;
}

/// A view of one ring: its counters and its bytes.
class Ring {
 public:
  Ring() = default;
  Ring(RingCounters* c, std::byte* data, std::uint64_t cap) : c_(c), data_(data), cap_(cap) {}

  std::uint64_t capacity() const noexcept { return cap_; }
  RingCounters& counters() const noexcept { return *c_; }

  // ---- writer side ----
  /// Room left for put(): what was put but not yet published counts as taken.
  std::uint64_t writable() const noexcept {
    return cap_ - (pending_head() - c_->tail.load(std::memory_order_acquire));
  }
  /// Copies n bytes (n <= writable()) after what was written; publish() makes them visible.
  void put(const void* src, std::uint64_t n) noexcept {
    std::uint64_t at = pending_head() & (cap_ - 1);
    std::uint64_t first = n < cap_ - at ? n : cap_ - at;
    std::memcpy(data_ + at, src, first);
    if (n > first) std::memcpy(data_, static_cast<const std::byte*>(src) + first, n - first);
    unpublished_ += n;
  }
  void publish() noexcept {
    c_->head.store(c_->head.load(std::memory_order_relaxed) + unpublished_, std::memory_order_release);
    unpublished_ = 0;
  }
  /// After publish(): wakes a reader sleeping on the futex (worker side).
  void wake_reader() noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (c_->reader_sleeping.load(std::memory_order_relaxed)) {
      c_->data_seq.fetch_add(1, std::memory_order_relaxed);
      pyconc::detail::futex_wake_all(c_->data_seq, true);
    }
  }

  // ---- reader side ----
  std::uint64_t readable() const noexcept {
    return c_->head.load(std::memory_order_acquire) - c_->tail.load(std::memory_order_relaxed);
  }
  /// Copies n bytes (n <= readable()) and frees their room.
  void take(void* dst, std::uint64_t n) noexcept {
    peek(dst, n, 0);
    c_->tail.store(c_->tail.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }
  /// Copies n bytes starting `skip` bytes after the tail, freeing nothing.
  void peek(void* dst, std::uint64_t n, std::uint64_t skip) const noexcept {
    std::uint64_t at = (c_->tail.load(std::memory_order_relaxed) + skip) & (cap_ - 1);
    std::uint64_t first = n < cap_ - at ? n : cap_ - at;
    std::memcpy(dst, data_ + at, first);
    if (n > first) std::memcpy(static_cast<std::byte*>(dst) + first, data_, n - first);
  }
  /// After take(): wakes a writer sleeping for room.
  void wake_writer() noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (c_->writer_sleeping.load(std::memory_order_relaxed)) {
      c_->space_seq.fetch_add(1, std::memory_order_relaxed);
      pyconc::detail::futex_wake_all(c_->space_seq, true);
    }
  }

  /// Resets an idle ring (its other end is gone).
  void reset() noexcept {
    c_->head.store(0);
    c_->tail.store(0);
    c_->reader_sleeping.store(0);
    c_->writer_sleeping.store(0);
    unpublished_ = 0;
  }

 private:
  std::uint64_t pending_head() const noexcept { return c_->head.load(std::memory_order_relaxed) + unpublished_; }

  RingCounters* c_ = nullptr;
  std::byte* data_ = nullptr;
  std::uint64_t cap_ = 0;
  std::uint64_t unpublished_ = 0;
};

/// The parts of a mapped segment.
struct Layout {
  PoolHeader* header = nullptr;
  std::uint32_t slots = 0;
  SlotHeader* slot(std::uint32_t i) const noexcept {
    return reinterpret_cast<SlotHeader*>(reinterpret_cast<std::byte*>(header) + sizeof(PoolHeader)) + i;
  }
  Ring inbox(std::uint32_t i) const noexcept {
    return Ring(&slot(i)->in, ring_base(i), kRingBytes);
  }
  Ring outbox(std::uint32_t i) const noexcept {
    return Ring(&slot(i)->out, ring_base(i) + kRingBytes, kRingBytes);
  }
  std::byte* ring_base(std::uint32_t i) const noexcept {
    return reinterpret_cast<std::byte*>(header) + sizeof(PoolHeader) + slots * sizeof(SlotHeader) +
           std::size_t{2} * i * kRingBytes;
  }
};

/// The sleeping side of the wake-up protocol: waits until ready() holds (true) or
/// give_up() does (false). With `spin`, it first spins ~20 µs; then it says it sleeps
/// (`sleeping`) and sleeps on the futex word `seq` in slices of `slice`, which the other
/// side bumps (Ring::wake_reader / wake_writer) when it sees `sleeping` set.
template <class Ready, class GiveUp>
bool wait_until(Ready ready, GiveUp give_up, std::atomic<std::uint32_t>& seq, std::atomic<std::uint32_t>& sleeping,
                std::chrono::milliseconds slice, bool spin) {
  if (spin) {
    auto until = std::chrono::steady_clock::now() + kSpinFor;
    do {
      for (int i = 0; i < 64; ++i) {
        if (ready()) return true;
        pyconc::detail::cpu_relax();
      }
    } while (std::chrono::steady_clock::now() < until);
  }
  for (;;) {
    if (give_up()) return false;
    std::uint32_t seen = seq.load(std::memory_order_acquire);
    sleeping.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!ready()) pyconc::detail::futex_wait(seq, seen, pyconc::detail::Deadline::after(slice), true);
    sleeping.store(0, std::memory_order_relaxed);
    if (ready()) return true;
  }
}

/// Initialises a zero-filled segment of segment_bytes(slots).
Layout format(void* base, std::uint32_t slots);
/// Checks and maps the parts of a segment made by format() (ValueError when it is not one).
Layout attach(void* base, std::size_t size);

/// Rings the parent's bell (the collector sleeps in poll() on it) once until it clears
/// `rung`. Called after publishing into an outbox.
void ring_bell(PoolHeader& header, int bell_fd) noexcept;

}  // namespace pyconc::multiprocessing::detail::pool
