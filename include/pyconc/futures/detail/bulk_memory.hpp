// Memory for long lists of futures: the lists wait() returns, the futures of map().
//
// A list of 100,000 futures is 800 KB. Taken from malloc, it is mapped in 4 KiB pages,
// and in a virtual machine the first touch of each costs a fault of several
// microseconds (~12 µs measured here: ~2.5 ms to fill one such list, a fifth of the
// time submitting the 100,000 tasks takes). So buffers of kBulkMin bytes or more are
// mapped on their own, 2 MiB-aligned, and advised to be backed by transparent huge
// pages: one fault per 2 MiB. A buffer just over the threshold thus holds up to four
// times its size while it lives (at most 1.5 MiB more); these lists are short-lived.
// A freed buffer is unmapped at once. Smaller buffers, and every buffer under
// AddressSanitizer (so that it still checks them), go to operator new.
#pragma once

#include <cstddef>
#include <new>

namespace pyconc::detail {

inline constexpr std::size_t kBulkMin = std::size_t{512} << 10;
inline constexpr std::size_t kHugePage = std::size_t{2} << 20;

/// `size` bytes (a multiple of kHugePage) of fresh memory, kHugePage-aligned and advised
/// to be backed by transparent huge pages; std::bad_alloc when there is none. Free with
/// munmap. (Also the chunks of the small-object pool, futures/detail/task_memory.hpp.)
void* map_huge_pages(std::size_t size);

/// `bytes` of memory aligned to `align`; std::bad_alloc when there is none.
void* bulk_allocate(std::size_t bytes, std::size_t align);
/// Frees what bulk_allocate(bytes, align) returned.
void bulk_deallocate(void* p, std::size_t bytes, std::size_t align) noexcept;
/// False when every request goes to operator new (AddressSanitizer builds).
bool bulk_mapping_active() noexcept;

/// A standard allocator over bulk_allocate (for futures::FutureList).
template <class T>
struct BulkAllocator {
  using value_type = T;
  BulkAllocator() noexcept = default;
  template <class U>
  BulkAllocator(const BulkAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(bulk_allocate(n * sizeof(T), alignof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept { bulk_deallocate(p, n * sizeof(T), alignof(T)); }
  template <class U>
  friend bool operator==(const BulkAllocator&, const BulkAllocator<U>&) noexcept {
    return true;
  }
};

}  // namespace pyconc::detail
