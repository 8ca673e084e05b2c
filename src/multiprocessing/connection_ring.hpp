// A Pipe's shared-memory segment and how messages are framed in its rings.
//
// Layout of a Pipe's segment: a Header (one Direction per direction: duplex 2, else 1),
// padded to a page, then one ring of kCapacity bytes per direction.
//
// A message is an 8-byte little-endian length followed by the payload, written into
// the ring as room appears (so any size streams through). `head` counts bytes ever
// published by the sender, `tail` bytes ever consumed by the receiver; head - tail is
// what waits in the ring.
#pragma once

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/detail/process_mutex.hpp"

namespace pyconc::multiprocessing::connection::detail {

using multiprocessing::detail::ProcessMutex;

constexpr std::uint64_t kMagic = 0x7079636f6e635049ull;  // "pyconcPI"
constexpr std::uint64_t kCapacity = std::uint64_t{1} << 20;
constexpr std::uint64_t kMaxMessage = std::uint64_t{1} << 46;
constexpr std::size_t kHeaderSize = 4096;
constexpr std::size_t kLengthSize = 8;  // the length header before each payload

/// The shared counters and locks of one direction of a Pipe.
struct Direction {
  alignas(64) std::atomic<std::uint64_t> head;  // bytes ever published by the sender
  alignas(64) std::atomic<std::uint64_t> tail;  // bytes ever consumed by the receiver
  // The doorbell's words (connection_doorbell.hpp).
  alignas(64) std::atomic<std::uint32_t> sleepers;
  std::atomic<std::uint32_t> rung;
  std::atomic<std::uint32_t> watched;
  std::atomic<std::uint32_t> writer_waiting;
  std::atomic<std::uint32_t> space_epoch;
  // Set when a sender or receiver died or failed mid-message: the stream is lost.
  std::atomic<std::uint32_t> broken;
  ProcessMutex send_lock;  // held for one whole message
  ProcessMutex recv_lock;
};

/// The start of a Pipe's segment.
struct Header {
  std::uint64_t magic;
  std::uint64_t capacity;
  std::uint32_t ndirs;
  Direction dirs[2];
};
static_assert(sizeof(Header) <= kHeaderSize);
// The tests scribble at these offsets.
static_assert(sizeof(Direction) == 192 && offsetof(Header, dirs) == 64 && offsetof(Direction, tail) == 64);

/// The segment size of a Pipe with `ndirs` directions.
constexpr std::size_t segment_size(std::uint32_t ndirs) { return kHeaderSize + ndirs * kCapacity; }

/// Whether bytes wait in direction `d` (the receiver's view).
inline bool has_data(const Direction& d) noexcept {
  return d.head.load(std::memory_order_acquire) != d.tail.load(std::memory_order_relaxed);
}

[[noreturn]] inline void corrupt(const char* what) {
  throw OSError(EBADMSG, std::string("corrupt connection data: ") + what);
}

[[noreturn]] inline void handle_closed() { throw OSError("handle is closed"); }

/// The length header of a message of `size` bytes.
inline void encode_length(std::uint64_t size, std::byte (&header)[kLengthSize]) noexcept {
  for (std::size_t i = 0; i < kLengthSize; ++i) header[i] = static_cast<std::byte>(size >> (8 * i));
}

/// The length a header announces; OSError (EBADMSG) when out of range.
inline std::uint64_t decode_length(const std::byte (&header)[kLengthSize]) {
  std::uint64_t size = 0;
  for (std::size_t i = 0; i < kLengthSize; ++i) size |= std::uint64_t(header[i]) << (8 * i);
  if (size > kMaxMessage) corrupt("message length header out of range");
  return size;
}

/// The bytes in a ring of `cap` bytes between the counters `from` (behind) and `to`.
inline std::uint64_t ring_distance(std::uint64_t to, std::uint64_t from, std::uint64_t cap) {
  std::uint64_t n = to - from;
  if (n > cap) corrupt("ring counters out of range");
  return n;
}

/// Copies `k` bytes into a ring of `cap` bytes at counter `at`, wrapping around.
inline void copy_into_ring(std::byte* ring, std::uint64_t cap, std::uint64_t at, const std::byte* from,
                           std::uint64_t k) noexcept {
  std::uint64_t off = at & (cap - 1);
  std::uint64_t first = std::min(k, cap - off);
  std::memcpy(ring + off, from, first);
  if (k > first) std::memcpy(ring, from + first, k - first);
}

/// Copies `k` bytes out of a ring of `cap` bytes at counter `at`, wrapping around.
inline void copy_from_ring(const std::byte* ring, std::uint64_t cap, std::uint64_t at, std::byte* to,
                           std::uint64_t k) noexcept {
  std::uint64_t off = at & (cap - 1);
  std::uint64_t first = std::min(k, cap - off);
  std::memcpy(to, ring + off, first);
  if (k > first) std::memcpy(to + first, ring, k - first);
}

}  // namespace pyconc::multiprocessing::connection::detail
