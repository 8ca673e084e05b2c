// Helpers of the multiprocessing tests.
#pragma once

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

#include "pyconc/multiprocessing/context.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "pyconc/multiprocessing/process.hpp"
#include "support.hpp"

// The first line of main() of every multiprocessing test program (mp_main.cpp): spawn
// and forkserver children start their work there.
#ifndef PYCONC_TEST_FREEZE_SUPPORT
#define PYCONC_TEST_FREEZE_SUPPORT(argc, argv) ::pyconc::multiprocessing::freeze_support((argc), (argv))
#endif

namespace pyconc_test {

/// The start methods a test should run under, for parametrised suites:
///     INSTANTIATE_TEST_SUITE_P(Methods, MyTest, ::testing::ValuesIn(pyconc_test::start_methods()),
///                              pyconc_test::method_name);
/// and in the test: auto ctx = pyconc::multiprocessing::get_context(GetParam());
inline std::vector<std::string> start_methods() { return {"fork", "spawn", "forkserver"}; }

/// A test-name suffix for a start method parameter.
struct MethodName {
  template <class ParamInfo>
  std::string operator()(const ParamInfo& info) const {
    return info.param;
  }
};
inline constexpr MethodName method_name{};

/// Names of /dev/shm segments of this process family ("pyconc-<family>-*").
/// The fds this process has open (the directory's own fd left out).
inline std::set<int> open_fds() {
  std::set<int> fds;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    int own = ::dirfd(dir);
    while (dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] == '.') continue;
      int fd = std::stoi(entry->d_name);
      if (fd != own) fds.insert(fd);
    }
    ::closedir(dir);
  }
  return fds;
}

inline std::vector<std::string> family_segments() {
  std::vector<std::string> names;
  std::string prefix = "pyconc-" + std::to_string(pyconc::multiprocessing::detail::family_pid()) + "-";
  if (DIR* dir = ::opendir("/dev/shm")) {
    while (dirent* entry = ::readdir(dir))
      if (std::string(entry->d_name).rfind(prefix, 0) == 0) names.emplace_back(entry->d_name);
    ::closedir(dir);
  }
  return names;
}

/// What fd points to (for leak messages).
inline std::string fd_target(int fd) {
  char buf[PATH_MAX] = {};
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "?";
}

/// Whether an fd open at the end of the suite belongs to pyconc's long-lived machinery
/// (the resource tracker's pipe, a fork server's socket) rather than a leak.
bool allowed_fd(int fd);

/// Forks a child (plain fork()) that runs `body` and _exit()s with its return value
/// (99 when it threw); returns the child's pid.
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

/// Waits for child `pid`; its wait status.
inline int reap(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

/// Runs `body` in a child made by fork_child(); returns its wait status.
template <class F>
int run_forked(F body) {
  return reap(fork_child(std::move(body)));
}

/// Whether a wait status says the child exited with code 0.
inline bool exited_ok(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

/// Kills and reaps a child if a test ends early (a failed ASSERT), so none is leaked.
struct Reaper {
  pid_t pid;
  ~Reaper() {
    if (::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
  }
};

/// Whether the task at `proc_dir` ("/proc/<pid>" or "/proc/self/task/<tid>") sleeps in
/// one of the system calls `numbers` (SYS_ppoll, SYS_futex...).
inline bool asleep_in(const std::string& proc_dir, std::initializer_list<long> numbers) {
  std::ifstream file(proc_dir + "/syscall");
  long number = -1;
  if (!(file >> number)) return false;
  for (long n : numbers)
    if (n == number) return true;
  return false;
}

/// Whether kernel thread `tid` of this process sleeps in one of `numbers`.
inline bool thread_asleep_in(long tid, std::initializer_list<long> numbers) {
  return tid != 0 && asleep_in("/proc/self/task/" + std::to_string(tid), numbers);
}

/// Whether process `pid` (its main thread) sleeps in one of `numbers`.
inline bool process_asleep_in(pid_t pid, std::initializer_list<long> numbers) {
  return asleep_in("/proc/" + std::to_string(pid), numbers);
}

/// Whether /dev/shm/<name> exists.
inline bool shm_exists(const std::string& name) { return ::access(("/dev/shm/" + name).c_str(), F_OK) == 0; }

}  // namespace pyconc_test
