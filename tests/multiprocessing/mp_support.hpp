// Helpers of the multiprocessing tests.
#pragma once

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
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
inline std::vector<std::string> start_methods() { return {"fork"}; }

/// A test-name suffix for a start method parameter.
struct MethodName {
  template <class ParamInfo>
  std::string operator()(const ParamInfo& info) const {
    return info.param;
  }
};
inline constexpr MethodName method_name{};

/// Names of /dev/shm segments of this process family ("pyconc-<family>-*").
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

/// Runs `body` in a child made by plain fork(); returns its wait status. The child
/// _exit()s with body's return value (or 99 when it threw).
template <class F>
int run_forked(F body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int code = 99;
    try {
      code = body();
    } catch (...) {
    }
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

}  // namespace pyconc_test
