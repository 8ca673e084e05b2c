// Helpers of the synchronize and sharedctypes tests: children made by plain fork()
// (pyconc_test::fork_child, mp_support.hpp), and a handle's trip through pickle.
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
#include "pyconc/pickle.hpp"

namespace sync_test {

/// `handle` pickled and loaded again (as a child process receives it).
template <class T>
T roundtrip(const T& handle) {
  auto bytes = pyconc::pickle::dumps(handle);
  return pyconc::pickle::loads<T>(bytes);
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
