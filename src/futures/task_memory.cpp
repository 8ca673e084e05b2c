// The small-object pool of future states (include/pyconc/futures/detail/task_memory.hpp).
#include "pyconc/futures/detail/task_memory.hpp"

#include <cstdint>
#include <new>
#include <vector>

#include "asan_build.hpp"
#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/futures/detail/bulk_memory.hpp"
#include "pyconc/threading/lock.hpp"


namespace pyconc::detail {

#if defined(PYCONC_ASAN_BUILD)

void* small_allocate(std::size_t bytes) { return ::operator new(bytes); }
void small_deallocate(void* p, std::size_t /*bytes*/) noexcept { ::operator delete(p); }
bool small_pool_active() noexcept { return false; }

#else

namespace {

constexpr std::size_t kGrain = 64;  // size classes: 64, 128, ..., kMaxSmall bytes
constexpr std::size_t kClasses = kMaxSmall / kGrain;
constexpr std::size_t kChunk = kHugePage;
constexpr std::uint32_t kBatch = 128;                 // blocks moved to/from the global lists at once

struct Block {
  Block* next;
};

struct Batch {
  Block* head;
  std::uint32_t count;
};

// Shared by all threads: spare batches per class, and the chunk being carved.
struct Global {
  threading::Lock lock;
  std::vector<Batch> spare[kClasses] PYCONC_GUARDED_BY(lock);
  char* bump PYCONC_GUARDED_BY(lock) = nullptr;
  char* end PYCONC_GUARDED_BY(lock) = nullptr;

  // A fresh 2 MiB-aligned chunk, advised to be backed by a huge page.
  void new_chunk() PYCONC_REQUIRES(lock) {
    bump = static_cast<char*>(map_huge_pages(kChunk));
    end = bump + kChunk;
  }

  // A list of blocks of class `c`: a spare batch, or kBatch new ones carved off the chunk.
  Batch take(std::size_t c) PYCONC_EXCLUDES(lock) {
    LockGuard guard(lock);
    if (!spare[c].empty()) {
      Batch b = spare[c].back();
      spare[c].pop_back();
      return b;
    }
    std::size_t size = (c + 1) * kGrain;
    if (static_cast<std::size_t>(end - bump) < size * kBatch) new_chunk();  // the rest of the old one is left
    Batch b{nullptr, kBatch};
    for (std::uint32_t i = 0; i < kBatch; ++i) {
      auto* blk = reinterpret_cast<Block*>(bump + (kBatch - 1 - i) * size);
      blk->next = b.head;
      b.head = blk;
    }
    bump += size * kBatch;
    return b;
  }

  // Keeps the blocks for other threads (if even that fails for want of memory, they are
  // lost: a bounded leak instead of a crash in a destructor).
  void give(std::size_t c, Batch b) noexcept PYCONC_EXCLUDES(lock) {
    LockGuard guard(lock);
    try {
      spare[c].push_back(b);
    } catch (...) {
    }
  }
};

// Never destroyed: threads may free states during and after static destruction.
Global& global() {
  static Global* g = new Global;
  return *g;
}

// This thread's free lists.
struct Cache {
  Block* head[kClasses] = {};
  std::uint32_t count[kClasses] = {};
  ~Cache();
};

thread_local Cache cache;
thread_local bool cache_gone = false;  // after this thread's Cache was destroyed

Cache::~Cache() {
  cache_gone = true;
  for (std::size_t c = 0; c < kClasses; ++c)
    if (head[c]) global().give(c, Batch{head[c], count[c]});
}

std::size_t class_of(std::size_t bytes) { return bytes == 0 ? 0 : (bytes - 1) / kGrain; }

}  // namespace

void* small_allocate(std::size_t bytes) {
  if (bytes > kMaxSmall) return ::operator new(bytes);
  std::size_t c = class_of(bytes);
  if (cache_gone) {  // a thread past its thread-local destructors: rare
    Batch b = global().take(c);
    if (b.count > 1) global().give(c, Batch{b.head->next, b.count - 1});
    return b.head;
  }
  Cache& my = cache;
  if (!my.head[c]) {
    Batch b = global().take(c);
    my.head[c] = b.head;
    my.count[c] = b.count;
  }
  Block* blk = my.head[c];
  my.head[c] = blk->next;
  --my.count[c];
  return blk;
}

bool small_pool_active() noexcept { return true; }

void small_deallocate(void* p, std::size_t bytes) noexcept {
  if (bytes > kMaxSmall) {
    ::operator delete(p);
    return;
  }
  std::size_t c = class_of(bytes);
  auto* blk = static_cast<Block*>(p);
  if (cache_gone) {
    blk->next = nullptr;
    global().give(c, Batch{blk, 1});
    return;
  }
  Cache& my = cache;
  blk->next = my.head[c];
  my.head[c] = blk;
  if (++my.count[c] < 2 * kBatch) return;
  // Too many: hand the older half back for other threads.
  Block* last = my.head[c];
  for (std::uint32_t i = 1; i < kBatch; ++i) last = last->next;
  Batch spill{last->next, my.count[c] - kBatch};
  last->next = nullptr;
  my.count[c] = kBatch;
  global().give(c, spill);
}

#endif

}  // namespace pyconc::detail
