// The pool segment's layout and the parent's bell (see pool_channel.hpp).
#include "pool_channel.hpp"

#include <unistd.h>

#include <cerrno>
#include <new>

#include "pyconc/errors.hpp"

namespace pyconc::multiprocessing::detail::pool {

Layout format(void* base, std::uint32_t slots) {
  auto* header = ::new (base) PoolHeader{};
  header->magic = kMagic;
  header->slots = slots;
  header->ring_bytes = kRingBytes;
  Layout layout{header, slots};
  for (std::uint32_t i = 0; i < slots; ++i) ::new (static_cast<void*>(layout.slot(i))) SlotHeader{};
  return layout;
}

Layout attach(void* base, std::size_t size) {
  auto* header = static_cast<PoolHeader*>(base);
  if (size < sizeof(PoolHeader) || header->magic != kMagic || header->ring_bytes != kRingBytes ||
      header->slots == 0 || segment_bytes(header->slots) > size)
    throw ValueError("not a process pool segment");
  return Layout{header, header->slots};
}

void ring_bell(PoolHeader& header, int bell_fd) noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (header.collector_sleeping.load(std::memory_order_relaxed) &&
      header.rung.load(std::memory_order_relaxed) == 0 && header.rung.exchange(1) == 0) {
    std::uint64_t one = 1;
    ssize_t r;
    do r = ::write(bell_fd, &one, sizeof one);
    while (r < 0 && errno == EINTR);
  }
}

}  // namespace pyconc::multiprocessing::detail::pool
