// The family's resource tracker: names the family created and did not unlink are
// unlinked once every process of the family is gone, even after SIGKILL; a user
// SharedMemory left that way gets a warning; the tracker leaves no process behind.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mp_support.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "pyconc/multiprocessing/detail/resource_tracker.hpp"
#include "pyconc/multiprocessing/detail/shared_segment.hpp"
#include "pyconc/multiprocessing/shared_memory.hpp"

extern char** environ;

namespace {

namespace detail = pyconc::multiprocessing::detail;
using pyconc_test::eventually;
using namespace std::chrono_literals;

bool exists(const std::string& name) { return pyconc_test::shm_exists(name); }

struct FamilyRun {
  int status = 0;
  std::string out;
  std::string err;
  int tracker_pid = 0;
  std::vector<std::string> names;
};

// Runs the helper family with `mode`; returns once its stdout and stderr reached EOF,
// i.e. once the helper and its tracker (which keeps stderr for its warning) are gone.
FamilyRun run_family(const std::string& mode) {
  int out[2], err[2];
  EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
  EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  std::string path = PYCONC_SHM_FAMILY;
  std::vector<char*> argv{path.data(), const_cast<char*>(mode.c_str()), nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  ::close(err[1]);
  FamilyRun run;
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn: " << rc;
    ::close(out[0]);
    ::close(err[0]);
    return run;
  }
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&run.out, &run.err};
  int open_count = 2;
  auto deadline = pyconc_test::Clock::now() + 60s;
  while (open_count > 0 && pyconc_test::Clock::now() < deadline) {
    if (::poll(fds, 2, 1000) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  for (auto& p : fds)
    if (p.fd >= 0) ::close(p.fd);
  EXPECT_EQ(open_count, 0) << "the family's output did not end";
  EXPECT_EQ(::waitpid(pid, &run.status, 0), pid);
  std::istringstream words(run.out);
  words >> run.tracker_pid;
  for (std::string name; words >> name;) run.names.push_back(name);
  return run;
}

TEST(ResourceTracker, CleansAfterTheWholeFamilyWasKilled) {
  FamilyRun run = run_family("crash");
  EXPECT_TRUE(WIFSIGNALED(run.status) && WTERMSIG(run.status) == SIGKILL);
  ASSERT_EQ(run.names.size(), 2u) << run.out;
  EXPECT_GT(run.tracker_pid, 0);
  for (auto& name : run.names) EXPECT_TRUE(eventually([&] { return !exists(name); }, 30s)) << name;
  EXPECT_TRUE(eventually([&] { return !detail::process_alive(run.tracker_pid); }, 30s));
  // One user SharedMemory was left: one warning, as Python's tracker gives.
  EXPECT_NE(run.err.find("resource_tracker: There appear to be 1 leaked shared_memory objects to clean up at "
                         "shutdown"),
            std::string::npos)
      << run.err;
}

TEST(ResourceTracker, KilledChildSegmentsOutliveItUntilTheFamilyEnds) {
  // The helper checks that the killed child's segments are still there while the
  // parent lives (exit code 5 otherwise), then exits normally.
  FamilyRun run = run_family("child-crash");
  EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << run.status;
  ASSERT_EQ(run.names.size(), 2u) << run.out;
  for (auto& name : run.names) EXPECT_TRUE(eventually([&] { return !exists(name); }, 30s)) << name;
  EXPECT_TRUE(eventually([&] { return !detail::process_alive(run.tracker_pid); }, 30s));
  EXPECT_NE(run.err.find("There appear to be 1 leaked shared_memory objects"), std::string::npos) << run.err;
}

TEST(ResourceTracker, KilledProcessChildSegmentsAreCleanedWithTheFamily) {
  FamilyRun run = run_family("process-crash");
  EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << run.status << " " << run.err;
  ASSERT_EQ(run.names.size(), 2u) << run.out;
  for (auto& name : run.names) EXPECT_TRUE(eventually([&] { return !exists(name); }, 30s)) << name;
  EXPECT_TRUE(eventually([&] { return !detail::process_alive(run.tracker_pid); }, 30s));
  EXPECT_NE(run.err.find("There appear to be 1 leaked shared_memory objects"), std::string::npos) << run.err;
}

TEST(ResourceTracker, StartsFromAMultiThreadedProgram) {
  FamilyRun run = run_family("threads");
  EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << run.status << " " << run.err;
  ASSERT_EQ(run.names.size(), 1u) << run.out;
  EXPECT_TRUE(eventually([&] { return !exists(run.names[0]); }, 30s));
  EXPECT_NE(run.err.find("There appear to be 1 leaked shared_memory objects"), std::string::npos) << run.err;
}

TEST(ResourceTracker, UnlinkUntracks) {
  FamilyRun run = run_family("unlink");
  EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
  ASSERT_EQ(run.names.size(), 1u) << run.out;
  EXPECT_FALSE(exists(run.names[0]));
  EXPECT_EQ(run.err, "");  // no warning: nothing was left
  EXPECT_TRUE(eventually([&] { return !detail::process_alive(run.tracker_pid); }, 30s));
}

TEST(ResourceTracker, UntrackedSharedMemoryIsLeftAlone) {
  FamilyRun run = run_family("untracked");
  ASSERT_EQ(run.names.size(), 1u) << run.out;
  EXPECT_TRUE(eventually([&] { return !detail::process_alive(run.tracker_pid); }, 30s));
  EXPECT_TRUE(exists(run.names[0]));  // track=false: the caller's to unlink
  EXPECT_EQ(run.err, "");
  pyconc::multiprocessing::shared_memory::SharedMemory({.name = run.names[0]}).unlink();
}

TEST(ResourceTracker, IsNotOurChildAndHoldsOnlyItsSocket) {
  detail::SharedSegment::create(64);  // starts it, if not yet
  int fd = detail::resource_tracker_fd();
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(detail::is_machinery_fd(fd));
  EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC);
  int pid = detail::resource_tracker_pid();
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(detail::process_alive(pid));
  errno = 0;
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  // It ignores the signals a terminal or a group kill sends.
  EXPECT_EQ(::kill(pid, SIGINT), 0);
  EXPECT_EQ(::kill(pid, SIGTERM), 0);
  EXPECT_EQ(::kill(pid, SIGHUP), 0);
  // Still alive: the tracker answers nothing, so check through a round trip that needs it.
  auto seg = detail::SharedSegment::create(64);
  EXPECT_TRUE(detail::process_alive(pid));
}

TEST(ResourceTracker, KeepsNoFdOfTheProgram) {
  // The helper starts its tracker while it holds a pipe without O_CLOEXEC, closes the
  // write end and must see EOF: the tracker kept no copy.
  FamilyRun run = run_family("pipe-eof");
  EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << run.status << " " << run.err;
}

TEST(ResourceTracker, ForkChildrenShareTheTracker) {
  int pid = detail::ensure_resource_tracker() >= 0 ? detail::resource_tracker_pid() : 0;
  ASSERT_GT(pid, 0);
  int status = pyconc_test::run_forked([pid] {
    auto segment = detail::SharedSegment::create(64);
    return detail::resource_tracker_pid() == pid ? 0 : 1;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(ResourceTracker, AKilledTrackerKillsNobody) {
  // The helper kills its tracker with SIGKILL, then creates and drops segments: the
  // messages to the dead tracker fail with EPIPE, never SIGPIPE.
  FamilyRun run = run_family("dead-tracker");
  EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << run.status << " " << run.err;
}

}  // namespace
