// What happens to child processes when their parent ends: daemonic children are
// terminated at normal exit, non-daemonic ones are joined, and every child dies when the
// parent is killed. Runs helpers/process_exit.cpp.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mp_support.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"

#ifndef PYCONC_PROCESS_HELPER
#error "PYCONC_PROCESS_HELPER must name the process_exit helper program"
#endif

extern char** environ;

using pyconc::multiprocessing::detail::process_alive;
using pyconc_test::Clock;
using pyconc_test::eventually;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;
using namespace std::chrono_literals;

namespace {

struct Helper {
  pid_t pid = -1;
  int out = -1;  // the helper's stdout
};

Helper launch(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  std::string path = PYCONC_PROCESS_HELPER;
  std::vector<std::string> argv_strings{path};
  for (auto& a : args) argv_strings.push_back(a);
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Without ThreadSanitizer's pause at exit.
  std::vector<std::string> env_strings;
  std::string tsan = "TSAN_OPTIONS=atexit_sleep_ms=0:die_after_fork=0";
  for (char** e = environ; *e != nullptr; ++e) {
    std::string var = *e;
    if (var.rfind("TSAN_OPTIONS=", 0) == 0)
      tsan = var + ":atexit_sleep_ms=0:die_after_fork=0";
    else
      env_strings.push_back(std::move(var));
  }
  env_strings.push_back(tsan);
  std::vector<char*> envp;
  for (auto& v : env_strings) envp.push_back(v.data());
  envp.push_back(nullptr);
  Helper h;
  int rc = posix_spawn(&h.pid, path.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw std::runtime_error("posix_spawn failed");
  }
  h.out = fds[0];
  return h;
}

// One line of the helper's stdout.
std::string read_line(int fd) {
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
  return line;
}

[[maybe_unused]] std::string read_all(int fd) {
  std::string text;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
  return text;
}

int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

std::string temp_path() {
  static int n = 0;
  return "/tmp/pyconc-test-process-exit-" + std::to_string(getpid()) + "-" + std::to_string(++n);
}

}  // namespace

TEST(ProcessExit, DaemonicChildIsTerminatedAtNormalExit) {
  auto start = Clock::now();
  Helper h = launch({"daemon", temp_path()});
  int child = std::stoi(read_line(h.out));
  ::close(h.out);
  int status = wait_exit(h.pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_LT(seconds_since(start), 30.0);  // the child would have run for a minute
  EXPECT_TRUE(eventually([&] { return !process_alive(child); }));
}

TEST(ProcessExit, NonDaemonicChildIsJoinedAtNormalExit) {
  std::string file = temp_path();
  Helper h = launch({"nondaemon", file});
  int child = std::stoi(read_line(h.out));
  ::close(h.out);
  int status = wait_exit(h.pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // Joined before the helper exited: its file is there, and it is gone.
  std::ifstream in(file);
  std::string text;
  in >> text;
  EXPECT_EQ(text, "written");
  EXPECT_FALSE(process_alive(child));
  std::remove(file.c_str());
}

TEST(ProcessExit, ChildrenDieWithAKilledParent) {
  Helper h = launch({"orphan", temp_path()});
  int child = std::stoi(read_line(h.out));
  ASSERT_TRUE(process_alive(child));
  ::kill(h.pid, SIGKILL);
  int status = wait_exit(h.pid);
  ::close(h.out);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_TRUE(eventually([&] { return !process_alive(child); }, 20s));
}
