#include "pyconc/detail/futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

namespace pyconc::detail {
namespace {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t),
              "futex words must be plain 32-bit integers");

long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t val, const timespec* ts,
           std::uint32_t bitset, bool shared) noexcept {
  if (!shared) op |= FUTEX_PRIVATE_FLAG;
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, val, ts, nullptr, bitset);
}

}  // namespace

bool futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, const Deadline& deadline,
                bool shared) noexcept {
  timespec ts{};
  const timespec* tsp = nullptr;
  if (!deadline.is_never()) {
    if (deadline.expired()) return false;
    ts = deadline.as_timespec();
    tsp = &ts;
  }
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time: no drift on retries.
  long rc = futex(word, FUTEX_WAIT_BITSET, expected, tsp, FUTEX_BITSET_MATCH_ANY, shared);
  if (rc == -1 && errno == ETIMEDOUT) return false;
  return true;
}

int futex_wake(std::atomic<std::uint32_t>& word, int count, bool shared) noexcept {
  long rc = futex(word, FUTEX_WAKE, static_cast<std::uint32_t>(count), nullptr, 0, shared);
  return rc < 0 ? 0 : static_cast<int>(rc);
}

int futex_wake_all(std::atomic<std::uint32_t>& word, bool shared) noexcept {
  return futex_wake(word, INT_MAX, shared);
}

}  // namespace pyconc::detail
