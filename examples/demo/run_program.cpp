// Starting a program with a time limit and collecting its output, for the demo's seeds
// and its Python runs.
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "demo.hpp"

extern char** environ;

namespace demo {

using namespace std::chrono_literals;

RunResult run_program(const std::vector<std::string>& args, std::chrono::seconds timeout, bool live_stderr) {
  RunResult result;
  int fds[2];
  if (pipe(fds) != 0) {
    result.status = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  if (!live_stderr) posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  std::vector<std::string> owned = args;
  std::vector<char*> argv;
  for (std::string& arg : owned) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, owned.at(0).c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    result.status = std::string("cannot start: ") + std::strerror(rc);
    return result;
  }

  auto deadline = Clock::now() + timeout;
  bool timed_out = false;
  char buffer[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= 0ms) {
      timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;  // timeout: checked at the top
    ssize_t got = read(fds[0], buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // EOF: the program closed its output (it exited)
    result.output.append(buffer, static_cast<std::size_t>(got));
  }
  close(fds[0]);

  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    result.status = "killed: still running after " + std::to_string(timeout.count()) + " s";
  } else if (WIFEXITED(wstatus)) {
    result.status = "exit " + std::to_string(WEXITSTATUS(wstatus));
    result.ok = WEXITSTATUS(wstatus) == 0;
  } else if (WIFSIGNALED(wstatus)) {
    result.status = std::string("killed by signal: ") + strsignal(WTERMSIG(wstatus));
  }
  return result;
}

void print_indented(const std::string& text) {
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::printf("    | %.*s\n", static_cast<int>(end - start), text.data() + start);
    start = end + 1;
  }
}

}  // namespace demo
