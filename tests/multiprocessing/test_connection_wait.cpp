// multiprocessing.connection.wait and Connection.fileno(): waiting on connections from
// outside a recv().
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "mp_support.hpp"
#include "pyconc/multiprocessing/connection.hpp"

namespace mp = pyconc::multiprocessing;
using mp::Connection;
using mp::Pipe;
using namespace std::chrono_literals;
using pyconc_test::fork_child;
using pyconc_test::reap;

TEST(Wait, OverPipesAndFds) {
  Connection a1, b1;
  std::tie(a1, b1) = Pipe();
  Connection a2, b2;
  std::tie(a2, b2) = Pipe();
  int efd = ::eventfd(0, EFD_CLOEXEC);
  std::vector<mp::connection::Waitable> objs{b1, b2, efd};
  EXPECT_TRUE(mp::connection::wait(objs, 0s).empty());
  EXPECT_TRUE(mp::connection::wait(objs, -1s).empty());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(mp::connection::wait(objs, 0.05s).empty());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  a2.send(5);
  auto ready = mp::connection::wait(objs, 30s);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_TRUE(ready[0] == mp::connection::Waitable(b2));
  EXPECT_EQ(b2.recv<int>(), 5);
  std::uint64_t one = 1;
  ASSERT_EQ(::write(efd, &one, 8), 8);
  ready = mp::connection::wait(objs);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].fd(), efd);
  ::close(efd);
  // a sender in another thread wakes a blocked wait
  std::thread t([&] { a1.send(9); });
  ready = mp::connection::wait({b1, b2});
  t.join();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(*ready[0].connection(), b1);
  EXPECT_EQ(b1.recv<int>(), 9);
  // EOF is ready too
  a2.close();
  ready = mp::connection::wait({b1, b2}, 30s);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(*ready[0].connection(), b2);
}

TEST(Wait, ProcessSentinelPidfd) {
  Connection a, b;
  std::tie(a, b) = Pipe();
  pid_t pid = fork_child([] { return 0; });
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  ASSERT_GE(pidfd, 0);
  auto ready = mp::connection::wait({b, pidfd}, 30s);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].fd(), pidfd);
  ::close(pidfd);
  reap(pid);
}

TEST(Fileno, ReadableExactlyWhileDataWaits) {
  Connection a, b;
  std::tie(a, b) = Pipe();
  int fd = b.fileno();
  EXPECT_EQ(b.fileno(), fd);
  auto readable = [](int f, int ms) {
    pollfd p{f, POLLIN, 0};
    return ::poll(&p, 1, ms) > 0;
  };
  EXPECT_FALSE(readable(fd, 0));
  a.send(1);
  EXPECT_TRUE(readable(fd, 10000));
  a.send(2);
  EXPECT_EQ(b.recv<int>(), 1);
  EXPECT_TRUE(readable(fd, 0));  // one message left
  EXPECT_EQ(b.recv<int>(), 2);
  EXPECT_FALSE(readable(fd, 0));
  a.close();
  EXPECT_TRUE(readable(fd, 10000));  // EOF
}

TEST(Fileno, MessagesSentBeforeFilenoAreSignalled) {
  Connection a, b;
  std::tie(a, b) = Pipe();
  a.send(1);
  pollfd p{b.fileno(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 10000), 1);
}
