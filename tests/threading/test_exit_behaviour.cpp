// What happens to running threads when the program exits: non-daemon threads are joined
// (after main returns or exit() is called), daemon threads are abandoned. Each case runs
// the exit_behaviour helper program and reads what it printed.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "support.hpp"

#ifndef PYCONC_EXIT_HELPER
#error "PYCONC_EXIT_HELPER must name the exit_behaviour helper program"
#endif

extern char** environ;

using pyconc_test::Clock;
using pyconc_test::kPrompt;
using pyconc_test::seconds_since;

namespace {

struct RunResult {
  std::string output;  // stdout and stderr, interleaved
  int exit_code = -1;  // -1 unless exited normally
  bool timed_out = false;
  double seconds = 0;
};

RunResult run_helper(const std::string& mode, double timeout_seconds = 60) {
  RunResult result;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  std::string path = PYCONC_EXIT_HELPER;
  std::vector<char*> argv{path.data(), const_cast<char*>(mode.c_str()), nullptr};
  // The environment, minus ThreadSanitizer's 1 s pause at exit (it would only slow down
  // every run; races are still reported when they happen).
  std::vector<std::string> env_strings;
  std::string tsan = "TSAN_OPTIONS=atexit_sleep_ms=0";
  for (char** e = environ; *e != nullptr; ++e) {
    std::string var = *e;
    if (var.rfind("TSAN_OPTIONS=", 0) == 0)
      tsan = var + ":atexit_sleep_ms=0";
    else
      env_strings.push_back(std::move(var));
  }
  env_strings.push_back(tsan);
  std::vector<char*> envp;
  for (auto& var : env_strings) envp.push_back(var.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  auto start = Clock::now();
  int rc = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    throw std::runtime_error("posix_spawn failed: " + std::to_string(rc));
  }
  char buffer[4096];
  for (;;) {
    double left = timeout_seconds - seconds_since(start);
    if (left <= 0) {
      result.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(left * 1000) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    ssize_t n = read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: every copy of the write end is closed
    result.output.append(buffer, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.seconds = seconds_since(start);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

// Position of `line` as a whole line in `output`, or npos.
std::size_t line_at(const std::string& output, const std::string& line) {
  std::size_t pos = 0;
  while ((pos = output.find(line + "\n", pos)) != std::string::npos) {
    if (pos == 0 || output[pos - 1] == '\n') return pos;
    ++pos;
  }
  return std::string::npos;
}

TEST(ExitBehaviour, MainReturningWaitsForNonDaemonThreads) {
  RunResult r = run_helper("nondaemon");
  ASSERT_FALSE(r.timed_out) << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::size_t returned = line_at(r.output, "main returns");
  std::size_t done = line_at(r.output, "worker done");
  ASSERT_NE(returned, std::string::npos) << r.output;
  ASSERT_NE(done, std::string::npos) << r.output;
  EXPECT_LT(returned, done) << r.output;
  EXPECT_GE(r.seconds, 0.2 - 0.005);  // the worker's 200 ms of work
}

TEST(ExitBehaviour, DaemonThreadsAreAbandonedAtExit) {
  RunResult r = run_helper("daemon");
  ASSERT_FALSE(r.timed_out) << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(line_at(r.output, "main returns"), std::string::npos) << r.output;
  EXPECT_LT(r.seconds, kPrompt) << r.output;
}

TEST(ExitBehaviour, ExitWaitsForNonDaemonThreads) {
  RunResult r = run_helper("exit");
  ASSERT_FALSE(r.timed_out) << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::size_t called = line_at(r.output, "main calls exit");
  std::size_t done = line_at(r.output, "worker done");
  ASSERT_NE(called, std::string::npos) << r.output;
  ASSERT_NE(done, std::string::npos) << r.output;
  EXPECT_LT(called, done) << r.output;
}

TEST(ExitBehaviour, WaitsForNonDaemonButNotForDaemonThreads) {
  RunResult r = run_helper("mixed");
  ASSERT_FALSE(r.timed_out) << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(line_at(r.output, "worker done"), std::string::npos) << r.output;
  EXPECT_LT(r.seconds, kPrompt) << r.output;
}

TEST(ExitBehaviour, GlobalsOutliveTheJoinedThreads) {
  RunResult r = run_helper("global");
  ASSERT_FALSE(r.timed_out) << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::size_t alive = line_at(r.output, "global alive");
  std::size_t done = line_at(r.output, "worker done");
  std::size_t destroyed = line_at(r.output, "global destroyed");
  ASSERT_NE(alive, std::string::npos) << r.output;
  ASSERT_NE(done, std::string::npos) << r.output;
  ASSERT_NE(destroyed, std::string::npos) << r.output;
  EXPECT_LT(done, destroyed) << r.output;
}

TEST(ExitBehaviour, StaticsMadeBeforeTheFirstStartOutliveTheJoinedThreads) {
  RunResult r = run_helper("static");
  ASSERT_FALSE(r.timed_out) << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::size_t alive = line_at(r.output, "static alive");
  std::size_t done = line_at(r.output, "worker done");
  std::size_t destroyed = line_at(r.output, "static destroyed");
  ASSERT_NE(alive, std::string::npos) << r.output;
  ASSERT_NE(done, std::string::npos) << r.output;
  ASSERT_NE(destroyed, std::string::npos) << r.output;
  EXPECT_LT(done, destroyed) << r.output;
}

TEST(ExitBehaviour, ExitFromAWorkerJoinsTheOtherThreads) {
  RunResult r = run_helper("exit_from_thread");
  ASSERT_FALSE(r.timed_out) << r.output;
  EXPECT_EQ(r.exit_code, 3) << r.output;
  std::size_t called = line_at(r.output, "exiter calls exit");
  std::size_t done = line_at(r.output, "worker done");
  ASSERT_NE(called, std::string::npos) << r.output;
  ASSERT_NE(done, std::string::npos) << r.output;
  EXPECT_EQ(line_at(r.output, "unreachable"), std::string::npos) << r.output;
}

}  // namespace
