// Memory for the shared states of futures: a small-object pool.
//
// An executor allocates one state per submit, often hundreds of thousands in a burst
// that stay alive until their results are read. Taken from malloc, every 4 KiB of new
// heap costs a page fault (several microseconds in a VM, hundreds of nanoseconds per
// future); this pool carves states out of 2 MiB chunks that ask for transparent huge
// pages (one fault per 2 MiB), and recycles freed states through per-thread free lists
// (no lock on the usual path) that spill to a global list in batches.
//
//   allocate ─► this thread's free list ─► a batch from the global list ─► carve a chunk
//   free     ─► this thread's free list ─(too long)─► a batch to the global list
//
// Memory is kept for reuse by later states, never returned to the system (as malloc's
// arenas keep most of theirs): the pool holds at most the peak of live future states.
// Sizes above kMaxSmall go to operator new. Under AddressSanitizer every request goes
// to operator new, so that ASan still checks the lifetime of each state.
#pragma once

#include <cstddef>
#include <new>

namespace pyconc::detail {

inline constexpr std::size_t kMaxSmall = 512;
inline constexpr std::size_t kSmallAlign = 16;

void* small_allocate(std::size_t bytes);
void small_deallocate(void* p, std::size_t bytes) noexcept;
/// False when every request goes to operator new (AddressSanitizer builds).
bool small_pool_active() noexcept;

/// A standard allocator over the pool, for std::allocate_shared.
template <class T>
struct SmallAllocator {
  using value_type = T;
  SmallAllocator() noexcept = default;
  template <class U>
  SmallAllocator(const SmallAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if constexpr (alignof(T) > kSmallAlign) return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(alignof(T))));
    else return static_cast<T*>(small_allocate(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if constexpr (alignof(T) > kSmallAlign) ::operator delete(p, std::align_val_t(alignof(T)));
    else small_deallocate(p, n * sizeof(T));
  }
  template <class U>
  friend bool operator==(const SmallAllocator&, const SmallAllocator<U>&) noexcept {
    return true;
  }
};

}  // namespace pyconc::detail
