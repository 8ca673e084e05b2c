// Long lists on huge pages (include/pyconc/futures/detail/bulk_memory.hpp).
#include "pyconc/futures/detail/bulk_memory.hpp"

#include <sys/mman.h>

#include <cstdint>

#include "asan_build.hpp"

namespace pyconc::detail {

namespace {

bool mapped(std::size_t bytes, std::size_t align) {
#if defined(PYCONC_ASAN_BUILD)
  (void)bytes;
  (void)align;
  return false;
#else
  return bytes >= kBulkMin && align <= kHugePage;
#endif
}

// Whole huge pages: the mapping a buffer of `bytes` (at most half the address space) gets.
std::size_t mapping_size(std::size_t bytes) { return (bytes + kHugePage - 1) & ~(kHugePage - 1); }

}  // namespace

void* bulk_allocate(std::size_t bytes, std::size_t align) {
  if (!mapped(bytes, align)) {
    if (align > __STDCPP_DEFAULT_NEW_ALIGNMENT__) return ::operator new(bytes, std::align_val_t(align));
    return ::operator new(bytes);
  }
  if (bytes > SIZE_MAX / 2) throw std::bad_alloc();
  return map_huge_pages(mapping_size(bytes));
}

void* map_huge_pages(std::size_t size) {
  // Map one huge page more than needed, then trim to a 2 MiB-aligned range.
  void* raw = ::mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  auto start = reinterpret_cast<std::uintptr_t>(raw);
  std::uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  if (aligned > start) ::munmap(raw, aligned - start);
  std::uintptr_t end = aligned + size;
  if (start + size + kHugePage > end) ::munmap(reinterpret_cast<void*>(end), start + size + kHugePage - end);
  ::madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);  // a hint: fine if refused
  return reinterpret_cast<void*>(aligned);
}

void bulk_deallocate(void* p, std::size_t bytes, std::size_t align) noexcept {
  if (!mapped(bytes, align)) {
    if (align > __STDCPP_DEFAULT_NEW_ALIGNMENT__) ::operator delete(p, std::align_val_t(align));
    else ::operator delete(p);
    return;
  }
  ::munmap(p, mapping_size(bytes));
}

bool bulk_mapping_active() noexcept {
#if defined(PYCONC_ASAN_BUILD)
  return false;
#else
  return true;
#endif
}

}  // namespace pyconc::detail
