// Helpers shared by the multiprocessing queue tests (test_queue*.cpp): flags in shared
// memory, a process's futex sleep, and checksummed blocks of data.
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

#include "mp_support.hpp"
#include "pyconc/multiprocessing/detail/shared_segment.hpp"

namespace pyconc_test {

// A few flags in shared memory, for "wait until the other process got there".
struct Flags {
  std::atomic<int> step{0};
  std::atomic<long> value{0};
};
struct SharedFlags {
  std::shared_ptr<pyconc::multiprocessing::detail::SharedSegment> segment = pyconc::multiprocessing::detail::SharedSegment::create(4096);
  Flags* f = new (segment->data()) Flags;
};

// Whether process `pid` (single-threaded) sleeps in a futex wait now.
inline bool process_asleep_in_futex(pid_t pid) { return pyconc_test::process_asleep_in(pid, {SYS_futex}); }

inline double elapsed(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

inline std::uint64_t checksum(const std::vector<std::uint64_t>& v) {
  std::uint64_t h = 1469598103934665603ull;
  for (auto x : v) h = (h ^ x) * 1099511628211ull;
  return h;
}

inline std::vector<std::uint64_t> block_of(std::size_t words, std::uint64_t seed) {
  std::vector<std::uint64_t> v(words);
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& w : v) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    w = x;
  }
  return v;
}

}  // namespace pyconc_test
