// Thin wrappers over the Linux futex(2) system call for 32-bit atomics.
//
// These are what pyconc's locks park on. `futex_wait` returns false only when the
// deadline passed; a spurious or EAGAIN return is true, so callers always re-check their
// condition in a loop. Memory ordering comes from the atomics around the calls, never
// from the futex itself (which is also what ThreadSanitizer understands).
#pragma once

#include <atomic>
#include <cstdint>

#include "pyconc/detail/timeout.hpp"

namespace pyconc::detail {

/// Blocks while `*word == expected`, until woken or `deadline`. Returns false on
/// timeout, true otherwise (woken, value changed, spurious or interrupted).
/// `shared`: the word lives in memory shared between processes.
bool futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                const Deadline& deadline = Deadline::never(), bool shared = false) noexcept;

/// Wakes up to `count` waiters blocked on `word`; returns how many were woken.
int futex_wake(std::atomic<std::uint32_t>& word, int count, bool shared = false) noexcept;

/// Wakes every waiter blocked on `word`.
int futex_wake_all(std::atomic<std::uint32_t>& word, bool shared = false) noexcept;

/// A CPU hint for spin loops.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace pyconc::detail
