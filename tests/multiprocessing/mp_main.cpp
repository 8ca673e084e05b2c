// main() of every multiprocessing test program.
//
// After the suite it checks that the family left nothing behind: no child process
// (every one was joined or reaped), no file descriptor opened during the suite, and no
// /dev/shm segment named "pyconc-<family pid>-*".
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "mp_support.hpp"
#include "pyconc/multiprocessing/detail/forkserver.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"

using pyconc_test::open_fds;

namespace {

class NothingLeaked : public ::testing::Environment {
 public:
  void SetUp() override { fds_at_start_ = open_fds(); }

  void TearDown() override {
    pyconc::multiprocessing::detail::stop_forkserver();  // machinery, not a leak
    // Background machinery (a fork server, the resource tracker's pipe) may hold fds
    // for the life of the program; pyconc_test::allowed_fd() lists them.
    std::set<int> leaked;
    for (int fd : open_fds())
      if (!fds_at_start_.count(fd) && !pyconc_test::allowed_fd(fd)) leaked.insert(fd);
    std::string list;
    for (int fd : leaked) {
      // Appended piece by piece: g++ 12 -O3 misreads a chain of operator+ (-Wrestrict).
      list.append(" ").append(std::to_string(fd)).append(" -> ").append(pyconc_test::fd_target(fd)).append(";");
    }
    EXPECT_TRUE(leaked.empty()) << "file descriptors left open by the suite:" << list;

    errno = 0;
    pid_t child = ::waitpid(-1, nullptr, WNOHANG);
    EXPECT_TRUE(child == -1 && errno == ECHILD) << "a child process is left (waitpid gave " << child << ")";

    auto left = pyconc_test::family_segments();
    std::string names;
    for (auto& n : left) names.append(" ").append(n);
    EXPECT_TRUE(left.empty()) << "/dev/shm segments left by the suite:" << names;
  }

 private:
  std::set<int> fds_at_start_;
};

}  // namespace

int main(int argc, char** argv) {
  PYCONC_TEST_FREEZE_SUPPORT(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new NothingLeaked);
  return RUN_ALL_TESTS();
}

bool pyconc_test::allowed_fd(int fd) { return pyconc::multiprocessing::detail::is_machinery_fd(fd); }
