// The engine of multiprocessing's queues: see include/pyconc/multiprocessing/detail/
// queue_core.hpp for the layout, the framing and how a dead producer or consumer is
// repaired.
//
//   put(item) ─► pickle ─► put_lock ─► chunks into the ring ─► commit tail ─► wake a getter
//                          (room? else sleep on the futex word, in slices that
//                           check the consumer side lives)
//   get() ─► get_lock ─► wait for a chunk ─► copy it out ─► commit head ─► wake a putter
//                        (sleep on the futex word, in slices that check the producer lives)
//   a side's lock taken over from a dead holder ─► its redo record re-applied
#include <algorithm>
#include <cerrno>
#include <bit>
#include <cstring>
#include <new>

#include "pyconc/detail/futex.hpp"
#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "pyconc/multiprocessing/detail/process_mutex.hpp"
#include "pyconc/multiprocessing/detail/queue_core.hpp"

namespace pyconc::multiprocessing::detail {

using pyconc::detail::Deadline;
using u32 = std::uint32_t;
using u64 = std::uint64_t;

namespace {

constexpr u64 kMagic = 0x7079636f6e635155ull;  // "pyconcQU"
constexpr u32 kVersion = 2;
constexpr u32 kFirst = 1, kLast = 2, kAbort = 4;
constexpr u64 kChunkHeader = 16;
constexpr std::size_t kMinBuffer = 4096;
constexpr std::size_t kMaxBuffer = std::size_t{1} << 30;
// How long a waiter spins on shared memory before it sleeps in the kernel (a futex
// round trip between processes costs ~17 µs; the other side usually acts sooner).
constexpr int kSpinIterations = 4000;

// A wake-up word and an "armed" flag that a waiter sets just before it sleeps: a waker
// makes a syscall only when the flag is set, and clears it, so a burst of puts to a
// sleeping consumer costs one futex_wake, not one per item.
struct Signal {
  std::atomic<u32> seq{0};
  std::atomic<u32> armed{0};
};

// The state one side is about to publish, written in full (`valid` cleared first, set
// last) before any of it is applied: whoever takes the side's lock over from a dead
// holder applies a valid record again, and keeps the state as it is when the record was
// only half written (nothing of it had been applied yet). See the header comment.
struct Redo {
  std::atomic<u32> valid{1};
  std::atomic<u32> mid{0};
  std::atomic<u64> pos{0};
  std::atomic<u64> items{0};

  void write(u64 new_pos, u64 new_items, bool new_mid) noexcept {
    valid.store(0, std::memory_order_release);
    pos.store(new_pos, std::memory_order_release);
    items.store(new_items, std::memory_order_release);
    mid.store(new_mid ? 1 : 0, std::memory_order_release);
    valid.store(1, std::memory_order_release);
  }
};

// Applies one side's new state: the counter before the position, so a reader that sees
// the position (acquire) sees the count too (a consumer's task_done() for an item it
// just got is never refused; a producer reading head sees the items it freed counted).
// The seq_cst store of the position also orders both before the read of the sleepers in
// notify().
void publish(std::atomic<u64>& pos, std::atomic<u64>& count, std::atomic<u32>& mid, u64 new_pos, u64 new_count,
             u32 new_mid) noexcept {
  count.store(new_count, std::memory_order_release);
  pos.store(new_pos, std::memory_order_seq_cst);
  mid.store(new_mid, std::memory_order_relaxed);
}

// Applies a dead holder's record again, when it was complete.
bool replay(const Redo& redo, std::atomic<u64>& pos, std::atomic<u64>& count, std::atomic<u32>& mid) noexcept {
  if (redo.valid.load(std::memory_order_acquire) == 0) return false;
  publish(pos, count, mid, redo.pos.load(std::memory_order_acquire), redo.items.load(std::memory_order_acquire),
          redo.mid.load(std::memory_order_acquire));
  return true;
}

struct ChunkHeader {
  u32 len;
  u32 flags;
  u32 check;
  u32 total;  // FIRST chunk: the item's size (saturated), else 0
};
static_assert(sizeof(ChunkHeader) == kChunkHeader);

}  // namespace

struct QueueHeader {
  u64 magic;
  u32 version;
  u32 kind;
  u64 capacity;
  long long maxsize;
  u64 salt;

  alignas(64) ProcessMutex put_lock;
  std::atomic<u32> mid_put{0};  // the producer is inside a streamed item
  std::atomic<u64> tail{0};
  std::atomic<u64> items_put{0};
  Redo put_redo;
  u64 seen_head = 0;  // a recent head (under put_lock): re-read only when room seems short

  alignas(64) ProcessMutex get_lock;
  std::atomic<u32> mid_get{0};  // the consumer is inside a streamed item
  std::atomic<u64> head{0};
  std::atomic<u64> items_got{0};
  Redo get_redo;
  u64 seen_tail = 0;  // a recent tail (under get_lock): re-read only when data seems short

  alignas(64) Signal data;   // consumers wait for tail to move
  alignas(64) Signal space;  // producers wait for head / items_got to move
  alignas(64) Signal tasks;  // join() waits for tasks_done == items_put
  std::atomic<u64> tasks_done{0};
};

namespace {

constexpr std::size_t kRingOffset = (sizeof(QueueHeader) + 4095) / 4096 * 4096;

constexpr u64 round16(u64 n) { return (n + 15) & ~u64{15}; }

u32 check_word(u64 salt, u64 pos, u32 len, u32 flags) {
  u64 x = salt ^ (pos * 0x9E3779B97F4A7C15ull) ^ ((static_cast<u64>(len) << 32) | flags);
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 32;
  return static_cast<u32>(x);
}

void notify(Signal& s) noexcept {
  if (s.armed.load(std::memory_order_seq_cst) != 0 && s.armed.exchange(0, std::memory_order_seq_cst) != 0) {
    s.seq.fetch_add(1, std::memory_order_seq_cst);
    pyconc::detail::futex_wake_all(s.seq, /*shared=*/true);
  }
}

// Waits until ready() (whose loads are seq_cst, pairing with the wakers' seq_cst stores
// and their read of `armed`), spinning first, then sleeping in slices; after each
// slice on_slice() may look after a dead peer. False when the deadline passed.
template <class Ready, class OnSlice>
bool wait_until(Signal& s, Ready ready, const Deadline& deadline, OnSlice on_slice) {
  for (int i = 0; i < kSpinIterations; ++i) {
    if (ready()) return true;
    pyconc::detail::cpu_relax();
    if ((i & 255) == 255 && deadline.expired()) break;
  }
  for (;;) {
    u32 seq = s.seq.load(std::memory_order_seq_cst);
    s.armed.exchange(1, std::memory_order_seq_cst);
    if (ready()) return true;
    bool in_time = shared_wait_slice(s.seq, seq, deadline);
    if (ready()) return true;
    if (!in_time) return false;
    on_slice();
  }
}

struct Unlock {
  ProcessMutex& m;
  ~Unlock() { m.unlock(); }
};

}  // namespace

// A wait condition that also ends when this handle is closed (close() interrupts the
// calls blocked on it: docs/conventions.md, "Thread safety").
template <class Ready>
auto QueueCore::or_closed(Ready ready) const {
  return [this, ready] { return closed_->load(std::memory_order_acquire) || ready(); };
}

void QueueCore::close() noexcept {
  closed_->store(true, std::memory_order_seq_cst);
  // Wake this process's blocked callers (other processes' sleepers wake too, find
  // nothing changed and sleep again).
  for (Signal* s : {&h_->space, &h_->data}) {
    s->seq.fetch_add(1, std::memory_order_seq_cst);
    pyconc::detail::futex_wake_all(s->seq, /*shared=*/true);
  }
}

void QueueCore::raise_closed() const {
  if (h_->kind == static_cast<u32>(Kind::simple)) raise_os_error(EBADF, "SimpleQueue is closed");
  throw ValueError("Queue is closed");
}

QueueCore::QueueCore(std::shared_ptr<SharedSegment> segment)
    : segment_(std::move(segment)),
      h_(static_cast<QueueHeader*>(segment_->data())),
      ring_(static_cast<std::byte*>(segment_->data()) + kRingOffset),
      mask_(h_->capacity - 1),
      closed_(std::make_shared<std::atomic<bool>>(false)) {}

QueueCore QueueCore::create(Kind kind, long long maxsize, std::size_t buffer_bytes) {
  if (buffer_bytes > kMaxBuffer) throw ValueError("multiprocessing queue: buffer_bytes must be at most 1 GiB");
  std::size_t capacity = std::bit_ceil(std::max(buffer_bytes, kMinBuffer));
  auto segment = SharedSegment::create(kRingOffset + capacity);
  auto* h = new (segment->data()) QueueHeader;
  h->magic = kMagic;
  h->version = kVersion;
  h->kind = static_cast<u32>(kind);
  h->capacity = capacity;
  h->maxsize = maxsize > 0 ? maxsize : 0;
  h->salt = random_u64();
  return QueueCore(std::move(segment));
}

QueueCore QueueCore::open(Kind kind, const std::string& name) {
  auto segment = SharedSegment::open(name);
  if (segment->size() < kRingOffset + kMinBuffer) throw ValueError("multiprocessing queue: '" + name + "' is not a queue");
  auto* h = static_cast<QueueHeader*>(segment->data());
  if (h->magic != kMagic || h->version != kVersion || h->kind != static_cast<u32>(kind) ||
      !std::has_single_bit(h->capacity) || h->capacity < kMinBuffer || segment->size() < kRingOffset + h->capacity)
    throw ValueError("multiprocessing queue: '" + name + "' is not a queue of this type");
  return QueueCore(std::move(segment));
}

long long QueueCore::maxsize() const noexcept { return h_->maxsize; }
std::size_t QueueCore::buffer_bytes() const noexcept { return h_->capacity; }

std::size_t QueueCore::qsize() const noexcept {
  u64 got = h_->items_got.load(std::memory_order_acquire);
  u64 put = h_->items_put.load(std::memory_order_acquire);
  return put > got ? static_cast<std::size_t>(put - got) : 0;
}

bool QueueCore::full() const noexcept { return h_->maxsize > 0 && qsize() >= static_cast<u64>(h_->maxsize); }

void QueueCore::write_bytes(u64 pos, const std::byte* src, std::size_t n) noexcept {
  if (n == 0) return;  // an empty vector's data() may be null
  std::size_t off = pos & mask_;
  std::size_t first = std::min<std::size_t>(n, h_->capacity - off);
  std::memcpy(ring_ + off, src, first);
  if (first < n) std::memcpy(ring_, src + first, n - first);
}

void QueueCore::read_bytes(u64 pos, std::byte* dst, std::size_t n) const noexcept {
  if (n == 0) return;
  std::size_t off = pos & mask_;
  std::size_t first = std::min<std::size_t>(n, h_->capacity - off);
  std::memcpy(dst, ring_ + off, first);
  if (first < n) std::memcpy(dst + first, ring_, n - first);
}

void QueueCore::write_chunk_header(u64 pos, u32 len, u32 flags, u64 total) noexcept {
  // `total`: the whole item's size on its FIRST chunk (a hint for the reader's buffer),
  // saturated at 4 GiB - 1.
  u32 hint = static_cast<u32>(std::min<u64>(total, 0xffff'ffffu));
  ChunkHeader c{len, flags, check_word(h_->salt ^ hint, pos, len, flags), hint};
  // 16-aligned positions in a ring of a power of two >= 4 KiB: never split.
  std::memcpy(ring_ + (pos & mask_), &c, sizeof c);
}

// ---- producer side -----------------------------------------------------------------

void QueueCore::commit_put(u64 tail, u64 items, bool mid) noexcept {
  h_->put_redo.write(tail, items, mid);
  publish(h_->tail, h_->items_put, h_->mid_put, tail, items, mid ? 1 : 0);  // publishes the bytes
  notify(h_->data);
}

// Holding put_lock taken over from a dead producer.
void QueueCore::repair_put() noexcept {
  if (replay(h_->put_redo, h_->tail, h_->items_put, h_->mid_put)) notify(h_->data);
  const u64 tail = h_->tail.load(std::memory_order_relaxed);
  if (h_->mid_put.load(std::memory_order_relaxed)) {
    // It died inside a streamed item: end the item with ABORT (16 bytes are always
    // left free while an item is open).
    write_chunk_header(tail, 0, kAbort, 0);
    commit_put(tail + kChunkHeader, h_->items_put.load(std::memory_order_relaxed), false);
  }
}

// A consumer inside an item waits for its producer: if that producer died holding
// put_lock, end its item for it (bounded attempt: never blocks behind a live producer).
void QueueCore::rescue_dead_producer() noexcept {
  int holder = h_->put_lock.holder();
  if (holder == 0 || process_alive(holder)) return;
  auto r = h_->put_lock.lock(Deadline::after(pyconc::Seconds(0)));
  if (r == ProcessMutex::Acquire::timeout) return;
  if (r == ProcessMutex::Acquire::owner_died) repair_put();
  h_->put_lock.unlock();
}

bool QueueCore::put(std::span<const std::byte> bytes, const Deadline& deadline, bool block) {
  const Deadline dl = block ? deadline : Deadline::at(Deadline::Clock::time_point::min());
  auto r = h_->put_lock.lock(dl);
  if (r == ProcessMutex::Acquire::timeout) return false;
  Unlock unlock{h_->put_lock};
  if (r == ProcessMutex::Acquire::owner_died) repair_put();
  if (closed_->load(std::memory_order_acquire)) raise_closed();  // closed while we queued for the lock

  const u64 cap = h_->capacity;
  auto no_op = [] {};
  if (h_->maxsize > 0) {
    const u64 max = static_cast<u64>(h_->maxsize);
    auto slot = [&] {
      return h_->items_put.load(std::memory_order_relaxed) - h_->items_got.load(std::memory_order_seq_cst) < max;
    };
    if (!slot() && (!block || !wait_until(h_->space, or_closed(slot), dl, no_op))) return false;
    if (closed_->load(std::memory_order_acquire)) raise_closed();
  }

  u64 tail = h_->tail.load(std::memory_order_relaxed);
  const u64 items = h_->items_put.load(std::memory_order_relaxed);
  const u64 n = bytes.size();
  const u64 frame = round16(kChunkHeader + n);
  // Free bytes, reading the consumers' head (another cache line) only when the last
  // value seen leaves less than `need`.
  auto free_bytes = [&](u64 need = ~u64{0}) {
    if (tail - h_->seen_head <= cap) {
      u64 room = cap - (tail - h_->seen_head);
      if (room >= need) return room;
    }
    h_->seen_head = h_->head.load(std::memory_order_seq_cst);
    return cap - (tail - h_->seen_head);
  };

  if (frame <= cap / 2) {
    auto room = [&] { return free_bytes(frame) >= frame; };
    if (!room() && (!block || !wait_until(h_->space, or_closed(room), dl, no_op))) return false;
    if (closed_->load(std::memory_order_acquire)) raise_closed();
    write_chunk_header(tail, static_cast<u32>(n), kFirst | kLast, n);
    write_bytes(tail + kChunkHeader, bytes.data(), n);
    commit_put(tail + frame, items + 1, false);
    return true;
  }

  // Streamed: chunks of at most a quarter of the ring, published as room frees, with
  // 16 bytes always left free for an ABORT chunk while the item is open.
  const u64 max_payload = cap / 4 - kChunkHeader;
  u64 off = 0;
  bool first = true;
  for (;;) {
    u64 left = n - off;
    u64 wanted = std::min<u64>({left, max_payload, 4096});
    auto room = [&] { return free_bytes() >= 2 * kChunkHeader + round16(wanted); };
    bool gave_up = !room() && (!block || !wait_until(h_->space, or_closed(room), dl, no_op));
    bool closing = !gave_up && closed_->load(std::memory_order_acquire);
    if (gave_up || closing) {
      if (!first) {  // the item is given up: consumers drop what they took of it
        write_chunk_header(tail, 0, kAbort, 0);
        commit_put(tail + kChunkHeader, items + 1, false);
      }
      if (closing) raise_closed();
      return false;
    }
    u64 avail = free_bytes() - 2 * kChunkHeader;
    u64 payload = std::min<u64>({left, max_payload, avail});
    bool last = payload == left;
    if (!last) payload &= ~u64{15};
    u32 flags = (first ? kFirst : 0) | (last ? kLast : 0);
    write_chunk_header(tail, static_cast<u32>(payload), flags, first ? n : 0);
    write_bytes(tail + kChunkHeader, bytes.data() + off, payload);
    tail += round16(kChunkHeader + payload);
    off += payload;
    commit_put(tail, items + 1, !last);
    first = false;
    if (last) return true;
  }
}

// ---- consumer side -----------------------------------------------------------------

void QueueCore::commit_get(u64 head, u64 items, bool mid) noexcept {
  h_->get_redo.write(head, items, mid);
  publish(h_->head, h_->items_got, h_->mid_get, head, items, mid ? 1 : 0);  // frees the bytes
  notify(h_->space);
}

void QueueCore::count_lost_item(u64 count) noexcept {
  // A lost item counts as done, so join() does not wait for it forever (never beyond
  // what was put, even when the counters themselves were scribbled over).
  u64 done = h_->tasks_done.load(std::memory_order_relaxed);
  for (;;) {
    u64 put = h_->items_put.load(std::memory_order_acquire);
    if (done >= put) break;
    u64 target = put - done < count ? put : done + count;
    if (h_->tasks_done.compare_exchange_weak(done, target, std::memory_order_seq_cst)) break;
  }
  notify(h_->tasks);
}

// Holding get_lock taken over from a dead consumer.
void QueueCore::repair_get() noexcept {
  if (replay(h_->get_redo, h_->head, h_->items_got, h_->mid_get)) notify(h_->space);
  const u64 head = h_->head.load(std::memory_order_relaxed);
  if (h_->mid_get.load(std::memory_order_relaxed)) {
    // It died inside an item: that item is lost; its remaining chunks are orphans the
    // loop in get() skips.
    count_lost_item();
    commit_get(head, h_->items_got.load(std::memory_order_relaxed), false);
  }
}

void QueueCore::corrupt(const char* what) {
  // Nothing after a corrupt frame can be trusted: drop everything published so far.
  // The dropped items (and one being taken) count as done, so join() is not left
  // waiting for them.
  {
    u64 put = h_->items_put.load(std::memory_order_acquire);
    u64 got = h_->items_got.load(std::memory_order_relaxed);
    u64 mid = h_->mid_get.load(std::memory_order_relaxed) != 0 ? 1 : 0;
    count_lost_item((put > got ? put - got : 0) + mid);
  }
  u64 tail = h_->tail.load(std::memory_order_acquire);
  commit_get(tail, std::max(h_->items_put.load(std::memory_order_acquire), h_->items_got.load(std::memory_order_relaxed)),
             false);
  throw ValueError(std::string("multiprocessing queue: corrupt data in the shared buffer (") + what +
                   "); the queue's contents were discarded");
}

bool QueueCore::get(ItemSink& sink, const Deadline& deadline, bool block) {
  const Deadline dl = block ? deadline : Deadline::at(Deadline::Clock::time_point::min());
  auto r = h_->get_lock.lock(dl);
  if (r == ProcessMutex::Acquire::timeout) return false;
  Unlock unlock{h_->get_lock};
  if (r == ProcessMutex::Acquire::owner_died) repair_get();
  if (closed_->load(std::memory_order_acquire)) raise_closed();  // closed while we queued for the lock

  const u64 cap = h_->capacity;
  for (;;) {
    const u64 head = h_->head.load(std::memory_order_relaxed);
    const bool mid = h_->mid_get.load(std::memory_order_relaxed) != 0;
    u64 tail = h_->seen_tail;
    if (tail == head || tail - head > cap) tail = h_->seen_tail = h_->tail.load(std::memory_order_acquire);
    if (tail == head) {
      auto ready = [&] { return h_->tail.load(std::memory_order_seq_cst) != head; };
      if (mid) {
        // Inside an item: wait for the rest whatever the deadline, watching the producer.
        wait_until(h_->data, ready, Deadline::never(), [this] { rescue_dead_producer(); });
      } else {
        if (!block || !wait_until(h_->data, or_closed(ready), dl, [] {})) return false;
        if (closed_->load(std::memory_order_acquire)) raise_closed();
      }
      continue;
    }
    if (tail - head > cap || (head & 15) != 0 || (tail & 15) != 0) corrupt("positions out of range");
    ChunkHeader c;
    std::memcpy(&c, ring_ + (head & mask_), sizeof c);
    if (c.check != check_word(h_->salt ^ c.total, head, c.len, c.flags) || c.flags > (kFirst | kLast | kAbort) ||
        ((c.flags & kAbort) && c.flags != kAbort))
      corrupt("bad chunk header");
    const u64 next = head + round16(kChunkHeader + c.len);
    if (next - head > tail - head) corrupt("chunk longer than the published data");
    const u64 items = h_->items_got.load(std::memory_order_relaxed);

    if (c.flags & kAbort) {
      if (mid) {  // its producer gave up or died: the item is lost
        sink.reset();
        count_lost_item();
      }
      commit_get(next, items, false);
      continue;
    }
    if (!(c.flags & kFirst) && !mid) {  // the rest of an item a dead consumer began
      commit_get(next, items, false);
      continue;
    }
    if ((c.flags & kFirst) && mid) {  // cannot happen: an open item always ends
      sink.reset();
      count_lost_item();
    }
    const bool last = (c.flags & kLast) != 0;
    std::byte* dst = nullptr;
    try {
      // Room for the whole item up front, but never more than the ring could have
      // delivered by now plus one ring: a lying hint cannot cause a huge allocation.
      if ((c.flags & kFirst) && c.total > c.len) sink.reserve(std::min<u64>(c.total, cap + c.len));
      dst = sink.append(c.len);
    } catch (...) {
      // Could not take it (out of memory): the item is dropped, its rest skipped.
      count_lost_item();
      commit_get(next, (c.flags & kFirst) ? items + 1 : items, false);
      throw;
    }
    if (dst != nullptr) read_bytes(head + kChunkHeader, dst, c.len);
    commit_get(next, (c.flags & kFirst) ? items + 1 : items, !last);
    if (last) return true;
  }
}

// ---- JoinableQueue -----------------------------------------------------------------

void QueueCore::task_done() {
  u64 done = h_->tasks_done.load(std::memory_order_relaxed);
  for (;;) {
    if (done >= h_->items_put.load(std::memory_order_acquire)) throw ValueError("task_done() called too many times");
    if (h_->tasks_done.compare_exchange_weak(done, done + 1, std::memory_order_seq_cst)) break;
  }
  notify(h_->tasks);
}

std::uint64_t QueueCore::unfinished_tasks() const noexcept {
  u64 done = h_->tasks_done.load(std::memory_order_acquire);
  u64 put = h_->items_put.load(std::memory_order_acquire);
  return put > done ? put - done : 0;
}

void QueueCore::join() {
  auto done = [&] {
    return h_->tasks_done.load(std::memory_order_seq_cst) >= h_->items_put.load(std::memory_order_seq_cst);
  };
  wait_until(h_->tasks, done, Deadline::never(), [] {});
}

}  // namespace pyconc::multiprocessing::detail
