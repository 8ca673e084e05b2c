// Helpers of the process-pool death tests (test_pool_death.cpp,
// test_process_pool_executor_death.cpp, test_process_pool_executor_options.cpp): tasks
// that die in the ways a worker can (killed, abort(), a segfault, exit()), tasks that
// wait on a process-shared Event, and waits on conditions with generous bounds.
#pragma once

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <pyconc/errors.hpp>
#include <pyconc/multiprocessing.hpp>

#include "mp_support.hpp"

#include "sanitizers.hpp"

// AddressSanitizer keeps SIGSEGV to itself (a report, then exit code 1) unless a
// program lets its own handlers in: die(Death::segfault) restores the default action
// so that the worker dies by the signal, as it would in a plain build. (This header is
// included by one file of each death-test program.)
#if defined(PYCONC_SANITIZED) && !defined(PYCONC_TEST_TSAN)
extern "C" const char* __asan_default_options() { return "allow_user_segv_handler=1"; }
#endif

namespace pyconc_test::death {

namespace mp = pyconc::multiprocessing;
using namespace std::chrono_literals;

/// How a task ends its own worker.
enum class Death { sigkill, abort, segfault, exit3 };

inline const char* death_name(Death d) {
  switch (d) {
    case Death::sigkill: return "sigkill";
    case Death::abort: return "abort";
    case Death::segfault: return "segfault";
    case Death::exit3: return "exit3";
  }
  return "?";
}

/// What the error's message says about such an end.
inline std::string death_words(Death d) {
  switch (d) {
    case Death::sigkill: return "killed by signal 9 (SIGKILL)";
    case Death::abort: return "killed by signal 6 (SIGABRT)";
    case Death::segfault: return "killed by signal 11 (SIGSEGV)";
    case Death::exit3: return "exit code 3";
  }
  return "?";
}

/// Ends the calling process the way `d` says. The sanitizers catch SIGSEGV and SIGABRT
/// to print a report (and exit with a code of their own): the default disposition comes
/// back first, so the worker dies by the signal as it would in a plain build.
[[noreturn]] inline void die(Death d) {
  switch (d) {
    case Death::sigkill:
      ::raise(SIGKILL);
      break;
    case Death::abort:
      std::signal(SIGABRT, SIG_DFL);
      std::abort();
    case Death::segfault: {
      std::signal(SIGSEGV, SIG_DFL);
      // A real invalid write: to a page with no access (not to null, which UBSan reports
      // before the write).
      void* page = ::mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      *static_cast<volatile int*>(page) = 1;
      ::raise(SIGSEGV);
      break;
    }
    case Death::exit3:
      std::exit(3);
  }
  ::_exit(99);
}

/// A task: x * x, or the worker's death when x == victim.
inline int square_or_die(int x, int victim, int death) {
  if (x == victim) die(static_cast<Death>(death));
  return x * x;
}

inline int square(int x) { return x * x; }
inline int add(int x, int y) { return x + y; }
inline long long length_of(std::string s) { return static_cast<long long>(s.size()); }
inline int own_pid() { return static_cast<int>(::getpid()); }

/// A task that spins about `us` microseconds (work the killer can interrupt), then
/// returns x * x.
inline int busy_square(int x, int us) {
  auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  while (std::chrono::steady_clock::now() < until) {
  }
  return x * x;
}
inline int slow_square(int x) { return busy_square(x, 100); }

/// A task that says it runs (started.set()), then waits for `release` (at most 60 s, so
/// that nothing hangs when a test fails) and returns x.
inline int hold(mp::Event started, mp::Event release, int x) {
  started.set();
  release.wait(60s);
  return x;
}

/// hold() whose death comes when it is released.
inline int hold_then_die(mp::Event started, mp::Event release, int death) {
  started.set();
  release.wait(60s);
  die(static_cast<Death>(death));
}

/// A task that returns a string of `bytes` bytes, after saying (ready.set()) that it
/// is about to return it.
inline std::string big_result(mp::Event ready, long long bytes) {
  std::string s(static_cast<std::size_t>(bytes), 'x');
  for (std::size_t i = 0; i < s.size(); i += 4096) s[i] = static_cast<char>('a' + (i / 4096) % 26);
  ready.set();
  return s;
}

/// Whether big_result's string of `bytes` bytes is `s`.
inline bool big_result_ok(const std::string& s, long long bytes) {
  if (s.size() != static_cast<std::size_t>(bytes)) return false;
  for (std::size_t i = 0; i < s.size(); i += 4096) {
    if (s[i] != static_cast<char>('a' + (i / 4096) % 26)) return false;
    if (i + 1 < s.size() && s[i + 1] != 'x') return false;
  }
  return true;
}

/// This process's resident memory, in bytes.
inline long long resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  long long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

/// Waits (at most `timeout`) for `pred` to hold, looking every millisecond.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = 30s) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return pred();
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

/// The pid an error message names ("pid N"), or -1.
inline int pid_in(const std::string& what) {
  std::smatch m;
  static const std::regex re("pid ([0-9]+)");
  if (!std::regex_search(what, m, re)) return -1;
  return std::stoi(m[1].str());
}

/// Whether process `pid` is gone (exited and reaped by whoever owns it).
inline bool process_gone(int pid) { return ::kill(pid, 0) == -1 && errno == ESRCH; }

/// Whether every pid of `pids` is gone, waiting (at most 30 s) for their reaping.
inline bool all_gone(const std::vector<int>& pids) {
  return wait_until([&] { return std::all_of(pids.begin(), pids.end(), process_gone); });
}

/// The message of the exception in `e`.
inline std::string what_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "?";
  }
}

/// Test-name suffix for a (method, death) parameter.
struct MethodDeathName {
  template <class ParamInfo>
  std::string operator()(const ParamInfo& info) const {
    return std::get<0>(info.param) + "_" + death_name(std::get<1>(info.param));
  }
};

}  // namespace pyconc_test::death
