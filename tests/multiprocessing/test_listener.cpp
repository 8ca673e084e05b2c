// multiprocessing.connection.Listener / Client / deliver_challenge / answer_challenge.
#include <sys/stat.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <fstream>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mp_support.hpp"
#include "pyconc/multiprocessing/listener.hpp"
#include "pyconc/multiprocessing/process.hpp"

namespace mp = pyconc::multiprocessing;
namespace conn = pyconc::multiprocessing::connection;
using namespace std::chrono_literals;

namespace {

// Whether thread `tid` sleeps in poll/ppoll (where accept() waits).
bool asleep_in_poll(long tid) { return pyconc_test::thread_asleep_in(tid, {SYS_poll, SYS_ppoll}); }

// Calls listener.accept() in a thread, closes the listener once that thread sleeps in
// poll(), and says whether accept() then ended in OSError, as a close must make it.
::testing::AssertionResult close_ends_a_blocked_accept(conn::Listener& listener) {
  std::atomic<long> tid{0};
  std::atomic<bool> raised{false};
  std::thread t([&] {
    tid = ::syscall(SYS_gettid);
    try {
      listener.accept();
    } catch (const pyconc::OSError&) {
      raised = true;
    } catch (...) {  // anything else (an AuthenticationError) is a failure
    }
  });
  bool asleep = pyconc_test::eventually([&] { return asleep_in_poll(tid.load()); });
  listener.close();
  t.join();
  if (!asleep) return ::testing::AssertionFailure() << "accept() never slept in poll()";
  if (!raised) return ::testing::AssertionFailure() << "accept() did not end in OSError";
  return ::testing::AssertionSuccess();
}

std::vector<std::byte> key(const std::string& s) {
  std::vector<std::byte> k(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) k[i] = static_cast<std::byte>(s[i]);
  return k;
}

// The child side of the cross-process tests: connects, echoes one message doubled.
void echo_client(std::string address, std::vector<std::byte> authkey) {
  auto c = conn::Client(address, {.authkey = authkey});
  int x = c.recv<int>();
  c.send(2 * x);
}

void wrong_key_client(std::string address) {
  try {
    conn::Client(address, {.authkey = key("wrong")});
  } catch (const mp::AuthenticationError&) {
    std::exit(7);
  }
  std::exit(1);
}

}  // namespace

TEST(Listener, AcceptAndClientTalkInOneProcess) {
  conn::Listener listener;
  EXPECT_EQ(listener.address()[0], '\0');  // a fresh abstract name
  EXPECT_FALSE(listener.last_accepted().has_value());
  std::thread client([address = listener.address()] {
    auto c = conn::Client(address);
    c.send(std::string("hello"));
    EXPECT_EQ(c.recv<int>(), 42);
  });
  auto server_end = listener.accept();
  EXPECT_EQ(server_end.recv<std::string>(), "hello");
  server_end.send(42);
  client.join();
  EXPECT_TRUE(listener.last_accepted().has_value());
  // The peer's end is gone: EOF, as a Pipe.
  EXPECT_THROW(server_end.recv_bytes(), pyconc::EOFError);
}

class ListenerMethods : public ::testing::TestWithParam<std::string> {};

TEST_P(ListenerMethods, ClientInAChildProcessWithAuthkey) {
  auto k = key("secret password");
  conn::Listener listener({.authkey = k});
  auto ctx = mp::get_context(GetParam());
  auto p = ctx.Process(&echo_client, listener.address(), k);
  p.start();
  auto c = listener.accept();
  c.send(21);
  EXPECT_EQ(c.recv<int>(), 42);
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(ListenerMethods, WrongKeyFailsOnBothSides) {
  conn::Listener listener({.authkey = key("right")});
  auto ctx = mp::get_context(GetParam());
  auto p = ctx.Process(&wrong_key_client, listener.address());
  p.start();
  EXPECT_THROW(listener.accept(), mp::AuthenticationError);
  p.join();
  EXPECT_EQ(p.exitcode(), 7);
}

INSTANTIATE_TEST_SUITE_P(Methods, ListenerMethods, ::testing::ValuesIn(pyconc_test::start_methods()),
                         pyconc_test::method_name);

TEST(Listener, ClientWithoutKeyAgainstListenerWithKey) {
  conn::Listener listener({.authkey = key("k")});
  std::thread server([&] { EXPECT_ANY_THROW(listener.accept()); });
  EXPECT_THROW(conn::Client(listener.address()), mp::AuthenticationError);
  server.join();
}

TEST(Listener, ClientWithKeyAgainstListenerWithout) {
  conn::Listener listener;
  std::thread server([&] { EXPECT_ANY_THROW(listener.accept()); });
  EXPECT_THROW(conn::Client(listener.address(), {.authkey = key("k")}), mp::AuthenticationError);
  server.join();
}

TEST(Listener, PathAddressIsUnlinkedByClose) {
  std::string path = "/tmp/pyconc-test-listener-" + std::to_string(::getpid());
  {
    conn::Listener listener({.address = path});
    EXPECT_EQ(listener.address(), path);
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0);
    std::thread client([&] { conn::Client(path).send(1); });
    EXPECT_EQ(listener.accept().recv<int>(), 1);
    client.join();
    // The address is taken while the listener lives.
    EXPECT_THROW(conn::Listener({.address = path}), pyconc::OSError);
  }
  struct stat st {};
  EXPECT_NE(::stat(path.c_str(), &st), 0);
}

TEST(Listener, ClientToNowhereRaises) {
  EXPECT_THROW(conn::Client(std::string(1, '\0') + "pyconc-nobody-listens-here"), pyconc::OSError);
  EXPECT_THROW(conn::Client("/nonexistent/dir/socket"), pyconc::FileNotFoundError);
}

TEST(Listener, CloseWakesABlockedAccept) {
  conn::Listener listener;
  EXPECT_TRUE(close_ends_a_blocked_accept(listener));
  EXPECT_THROW(listener.accept(), pyconc::OSError);
  listener.close();  // idempotent
}

TEST(Listener, BadOptions) {
  EXPECT_THROW(conn::Listener({.family = "AF_INET"}), pyconc::ValueError);
  EXPECT_THROW(conn::Client("x", {.family = "AF_INET"}), pyconc::ValueError);
  EXPECT_THROW(conn::Listener({.address = std::string(200, 'a')}), pyconc::ValueError);
}

TEST(Listener, ChallengeOverAPipe) {
  auto [a, b] = mp::Pipe();
  auto k = key("shared");
  std::thread t([&, b = b] () mutable { conn::answer_challenge(b, k); conn::deliver_challenge(b, k); });
  conn::deliver_challenge(a, k);
  conn::answer_challenge(a, k);
  t.join();

  std::thread t2([&, b = b] () mutable { EXPECT_THROW(conn::answer_challenge(b, key("other")), mp::AuthenticationError); });
  EXPECT_THROW(conn::deliver_challenge(a, k), mp::AuthenticationError);
  t2.join();
}

TEST(Listener, ManyClientsOneAfterAnother) {
  conn::Listener listener({.backlog = 8, .authkey = key("k")});
  std::thread clients([&] {
    for (int i = 0; i < 20; ++i) {
      auto c = conn::Client(listener.address(), {.authkey = key("k")});
      c.send(i);
      EXPECT_EQ(c.recv<int>(), i + 1);
    }
  });
  for (int i = 0; i < 20; ++i) {
    auto c = listener.accept();
    c.send(c.recv<int>() + 1);
  }
  clients.join();
}

namespace {
void use_connection(mp::Connection c) { c.send(1); }
}  // namespace

TEST(Listener, AcceptedConnectionCrossesOnlyIntoForkChildren) {
  conn::Listener listener;
  std::thread client([address = listener.address()] {
    auto c = conn::Client(address);
    EXPECT_EQ(c.recv<int>(), 1);
  });
  auto c = listener.accept();
  // Its segment has no name any more: a spawn child could not open it.
  auto spawned = mp::get_context("spawn").Process(&use_connection, c);
  EXPECT_THROW(spawned.start(), pyconc::ValueError);
  auto forked = mp::get_context("fork").Process(&use_connection, c);
  forked.start();
  forked.join();
  EXPECT_EQ(forked.exitcode(), 0);
  client.join();
}

TEST(Listener, CloseInterruptsAHandshakeWithASilentClient) {
  conn::Listener listener({.authkey = key("k")});
  // A client that connects and says nothing.
  int silent = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(silent, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::string address = listener.address();
  std::memcpy(sa.sun_path, address.data(), address.size());
  ASSERT_EQ(::connect(silent, reinterpret_cast<sockaddr*>(&sa),
                      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size())),
            0);
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(close_ends_a_blocked_accept(listener));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 15.0);
  ::close(silent);
}

TEST(Listener, FilenoIsReadableWhenAClientWaits) {
  conn::Listener listener;
  int fd = listener.fileno();
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);  // nobody yet
  std::thread client([address = listener.address()] { conn::Client(address).send(3); });
  p.revents = 0;
  EXPECT_EQ(::poll(&p, 1, 10'000), 1);
  EXPECT_EQ(listener.accept().recv<int>(), 3);
  client.join();
  listener.close();
  EXPECT_THROW(listener.fileno(), pyconc::OSError);
}
