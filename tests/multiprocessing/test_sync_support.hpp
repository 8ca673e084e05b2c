// Helpers of the synchronize and sharedctypes tests: children made by plain fork().
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/futex.h>
#include <sys/syscall.h>

#include <chrono>
#include <fstream>
#include <string>

#include "mp_support.hpp"

namespace sync_test {

/// Forks a child that runs `body` and _exit()s with its result (99 if it threw).
template <class F>
pid_t fork_child(F body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int code = 99;
    try {
      code = body();
    } catch (...) {
    }
    ::_exit(code);
  }
  return pid;
}

/// Waits for `pid`; its exit code, or 128 + signal.
inline int join(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

/// Whether the (single-threaded) child `pid` is asleep in a futex wait: read from
/// /proc/<pid>/syscall, so a test knows the child blocked without sleeping.
inline bool child_asleep_in_futex(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/syscall");
  long number = -1;
  std::string addr_text, op_text;
  if (!(file >> number) || number != SYS_futex) return false;
  if (!(file >> addr_text >> op_text)) return false;
  int cmd = static_cast<int>(std::stoull(op_text, nullptr, 16)) & FUTEX_CMD_MASK;
  return cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET;
}

}  // namespace sync_test
