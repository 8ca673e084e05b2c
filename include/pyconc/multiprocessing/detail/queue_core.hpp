// The untyped engine under multiprocessing's Queue, JoinableQueue and SimpleQueue: a
// byte ring in one shared-memory segment that carries framed items between processes.
//
//   producer (put_lock) ──► [ frame | frame | chunk chunk chunk ... ] ──► consumer (get_lock)
//        tail ─────────────────────────────────────────────────────────── head
//
// Every item is one or more chunks, each a 16-byte header (payload length, flags
// FIRST / LAST / ABORT, a check word tied to the length and position) and its payload,
// padded to 16 bytes. An item whose frame fits in half the ring is one FIRST|LAST chunk,
// published by one store of `tail` once it is complete. A larger item is streamed: the
// producer publishes chunks as room frees, the consumer takes them as they come, each
// under its own lock; the producer always leaves 16 bytes free while an item is open, so
// an ABORT chunk always fits.
//
// Robustness. Each side commits its position (tail or head), its item counter and its
// "inside an item" flag together: it first writes them all to a redo record, marked
// valid only once complete, then applies them (the counter before the position, so a
// reader that sees the position sees the count). Whoever takes a side's lock over from a
// dead holder (ProcessMutex::Acquire::owner_died) applies a valid record again; a record
// left half written means nothing of it was applied, and the previous commit stands. A producer that died
// inside an item gets an ABORT chunk written for it; the consumer drops what it had of
// that item. A consumer that died inside an item leaves its remaining chunks as
// "orphans" that the next consumer skips. Waits run in slices that check the other
// side's lock holder is alive (a consumer inside an item whose producer died writes the
// ABORT itself). Corrupt bytes (bad check word, impossible lengths or positions) raise
// ValueError and the ring is emptied; nothing is allocated beyond what actually arrived.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "pyconc/detail/timeout.hpp"
#include "pyconc/multiprocessing/detail/shared_segment.hpp"

namespace pyconc::multiprocessing::detail {

struct QueueHeader;

/// Where a get() puts the payload bytes of an item, as they arrive.
class ItemSink {
 public:
  /// Room for `n` more bytes (contents so far kept), or nullptr to drop them (the item
  /// cannot be a valid value; finish() then raises).
  virtual std::byte* append(std::size_t n) = 0;
  /// A hint: the item will have about `n` bytes.
  virtual void reserve(std::size_t n) = 0;
  /// Forget what arrived (the item was aborted by its dying producer).
  virtual void reset() noexcept = 0;

 protected:
  ~ItemSink() = default;
};

/// A shared byte queue: the state every copy of a multiprocessing queue handle shares.
/// Thread safety: every member may be called from any thread of any process.
class QueueCore {
 public:
  enum class Kind : std::uint32_t { queue = 1, joinable = 2, simple = 3 };

  /// No queue: only to be assigned (an empty handle that load() fills).
  QueueCore() = default;

  /// A new queue. `maxsize <= 0`: no item limit. `buffer_bytes` is rounded up to a power
  /// of two (at least 4 KiB, at most 1 GiB); ValueError beyond.
  static QueueCore create(Kind kind, long long maxsize, std::size_t buffer_bytes);
  /// Opens the queue in segment `name` (what save() wrote). ValueError when the segment
  /// is not a queue of that kind; FileNotFoundError when it is gone.
  static QueueCore open(Kind kind, const std::string& name);

  /// Puts `bytes` as one item. Returns false when it could not by the deadline (or at
  /// once when !block): the caller raises Full. An item streamed in part when the
  /// deadline passed is aborted (consumers drop it).
  bool put(std::span<const std::byte> bytes, const pyconc::detail::Deadline& deadline, bool block);
  /// Takes one item into `sink`. Returns false when none came by the deadline (the
  /// caller raises Empty). Once the first chunk of an item is taken, get() waits for the
  /// rest whatever the deadline (Python's get also reads a whole message once it began).
  /// ValueError when the ring holds corrupt bytes (the ring is emptied).
  bool get(ItemSink& sink, const pyconc::detail::Deadline& deadline, bool block);

  long long maxsize() const noexcept;
  std::size_t qsize() const noexcept;
  bool empty() const noexcept { return qsize() == 0; }
  bool full() const noexcept;
  std::size_t buffer_bytes() const noexcept;

  /// JoinableQueue: one item done; ValueError when called more often than items put.
  void task_done();
  /// Blocks until every item put was marked done (or lost, see the docs).
  void join();
  std::uint64_t unfinished_tasks() const noexcept;

  const std::string& name() const noexcept { return segment_->name(); }
  /// The closed flag shared by the copies of one handle in this process.
  std::atomic<bool>& closed() const noexcept { return *closed_; }
  /// Sets it and wakes this process's callers blocked in put()/get(), which then raise
  /// as a call after close() does.
  void close() noexcept;

  /// Whether both are the same queue.
  bool operator==(const QueueCore& other) const noexcept { return segment_ == other.segment_; }

 private:
  friend struct QueueAccess;

  QueueCore(std::shared_ptr<SharedSegment> segment);
  void repair_put() noexcept;
  void repair_get() noexcept;
  void commit_put(std::uint64_t tail, std::uint64_t items, bool mid) noexcept;
  void commit_get(std::uint64_t head, std::uint64_t items, bool mid) noexcept;
  void write_bytes(std::uint64_t pos, const std::byte* src, std::size_t n) noexcept;
  void read_bytes(std::uint64_t pos, std::byte* dst, std::size_t n) const noexcept;
  void write_chunk_header(std::uint64_t pos, std::uint32_t len, std::uint32_t flags, std::uint64_t total) noexcept;
  void rescue_dead_producer() noexcept;
  void count_lost_item(std::uint64_t count = 1) noexcept;
  [[noreturn]] void corrupt(const char* what) noexcept(false);
  [[noreturn]] void raise_closed() const;
  template <class Ready>
  auto or_closed(Ready ready) const;

  std::shared_ptr<SharedSegment> segment_;
  QueueHeader* h_ = nullptr;
  std::byte* ring_ = nullptr;
  std::uint64_t mask_ = 0;
  std::shared_ptr<std::atomic<bool>> closed_;
};

}  // namespace pyconc::multiprocessing::detail
