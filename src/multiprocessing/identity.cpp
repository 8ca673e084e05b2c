#include "pyconc/multiprocessing/detail/identity.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>

#include "pyconc/errors.hpp"

namespace pyconc::multiprocessing::detail {
namespace {

std::atomic<int> g_pid{0};
std::atomic<int> g_family{0};

// A handful of fds at most; a fixed array of atomics keeps this async-signal-safe
// and free of locks.
constexpr int kMaxMachineryFds = 16;
std::atomic<int> g_machinery[kMaxMachineryFds] = {};

void after_fork_in_child() noexcept { g_pid.store(static_cast<int>(::getpid()), std::memory_order_relaxed); }

int compute_family() noexcept {
  if (const char* env = std::getenv("PYCONC_MP_FAMILY")) {
    char* end = nullptr;
    long value = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && value > 0) return static_cast<int>(value);
  }
  return self_pid();
}

}  // namespace

int self_pid() noexcept {
  int pid = g_pid.load(std::memory_order_relaxed);
  if (pid != 0) return pid;
  static const bool registered = [] {
    ::pthread_atfork(nullptr, nullptr, &after_fork_in_child);
    return true;
  }();
  (void)registered;
  pid = static_cast<int>(::getpid());
  g_pid.store(pid, std::memory_order_relaxed);
  return pid;
}

bool process_alive(int pid) noexcept {
  if (pid <= 0) return false;
  if (pid == self_pid()) return true;
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno != ESRCH;  // EMFILE and the like: assume alive, check later
  pollfd p{fd, POLLIN, 0};
  int rc = ::poll(&p, 1, 0);
  ::close(fd);
  return !(rc == 1 && (p.revents & POLLIN));
}

int family_pid() noexcept {
  int family = g_family.load(std::memory_order_relaxed);
  if (family != 0) return family;
  family = compute_family();
  int expected = 0;
  if (!g_family.compare_exchange_strong(expected, family, std::memory_order_relaxed)) return expected;
  return family;
}

void set_family_pid(int pid) noexcept { g_family.store(pid, std::memory_order_relaxed); }

void register_machinery_fd(int fd) noexcept {
  for (auto& slot : g_machinery) {
    int expected = 0;
    if (slot.compare_exchange_strong(expected, fd + 1)) return;
  }
}

void unregister_machinery_fd(int fd) noexcept {
  for (auto& slot : g_machinery) {
    int expected = fd + 1;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}

bool is_machinery_fd(int fd) noexcept {
  for (auto& slot : g_machinery)
    if (slot.load() == fd + 1) return true;
  return false;
}

std::uint64_t random_u64() {
  std::uint64_t value = 0;
  auto* bytes = reinterpret_cast<unsigned char*>(&value);
  std::size_t got = 0;
  while (got < sizeof value) {
    ssize_t n = ::getrandom(bytes + got, sizeof value - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      raise_os_error(errno, "getrandom");
    }
    got += static_cast<std::size_t>(n);
  }
  return value;
}

}  // namespace pyconc::multiprocessing::detail
