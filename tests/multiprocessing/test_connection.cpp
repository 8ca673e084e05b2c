// multiprocessing.Pipe and Connection: messages, closing, and peers that die (wait() and
// fileno(): test_connection_wait.cpp; corrupt rings: test_connection_ring.cpp; pickling:
// test_connection_export.cpp; as Process arguments: test_connection_process.cpp).
#include <sys/syscall.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "sanitizers.hpp"

#include "mp_support.hpp"
#include "pyconc/multiprocessing/connection.hpp"
#include "pyconc/multiprocessing/detail/shared_segment.hpp"
#include "pyconc/threading/timeout.hpp"

namespace mp = pyconc::multiprocessing;
using mp::Connection;
using mp::Pipe;
using namespace std::chrono_literals;
using pyconc_test::fork_child;
using pyconc_test::reap;

// 1 GiB; 128 MiB under the sanitizers, which instrument every byte copied (the
// streaming path is the same from the second ring-full on).
#ifdef PYCONC_SANITIZED
constexpr std::size_t kBig = std::size_t{128} << 20;
constexpr int kLoad = 4;  // fewer rounds in the stress tests
#else
constexpr std::size_t kBig = std::size_t{1} << 30;
constexpr int kLoad = 1;
#endif

namespace {

std::string str_of(const std::vector<std::byte>& v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size()); }

// Whether kernel thread `tid` of this process sleeps in ppoll (a Connection waiting).
bool asleep_in_ppoll(long tid) { return pyconc_test::thread_asleep_in(tid, {SYS_ppoll}); }

// The outgoing ring of end 0 of the only duplex Pipe of this family is full.
bool ring_of_end0_full() {
  auto names = pyconc_test::family_segments();
  if (names.size() != 1) return false;
  auto seg = pyconc::multiprocessing::detail::SharedSegment::open(names[0]);
  auto* base = static_cast<char*>(seg->data());
  // Header: 64 bytes, then Direction[2] of 192 bytes each; end 0 writes direction 1.
  auto* head = reinterpret_cast<std::atomic<std::uint64_t>*>(base + 64 + 192);
  auto* tail = reinterpret_cast<std::atomic<std::uint64_t>*>(base + 64 + 192 + 64);
  return head->load() - tail->load() == (std::uint64_t{1} << 20);
}

}  // namespace

TEST(Pipe, SendRecvObjectsInOneProcess) {
  Connection a, b;
  std::tie(a, b) = Pipe();
  a.send(42);
  a.send(std::string("hello"));
  a.send(std::vector<int>{1, 2, 3});
  EXPECT_EQ(b.recv<int>(), 42);
  EXPECT_EQ(b.recv<std::string>(), "hello");
  EXPECT_EQ(b.recv<std::vector<int>>(), (std::vector<int>{1, 2, 3}));
  b.send(std::map<std::string, int>{{"x", 1}});
  EXPECT_EQ((a.recv<std::map<std::string, int>>()), (std::map<std::string, int>{{"x", 1}}));
}

TEST(Pipe, WrongTypeIsValueError) {
  Connection a, b;
  std::tie(a, b) = Pipe();
  a.send(std::string("this is not an int and is too long"));
  EXPECT_THROW(b.recv<int>(), pyconc::ValueError);
}

TEST(Pipe, DuplexFlags) {
  Connection a, b;
  std::tie(a, b) = Pipe();
  EXPECT_TRUE(a.readable() && a.writable() && b.readable() && b.writable());
  Connection r, w;
  std::tie(r, w) = Pipe(false);
  EXPECT_TRUE(r.readable());
  EXPECT_FALSE(r.writable());
  EXPECT_FALSE(w.readable());
  EXPECT_TRUE(w.writable());
  w.send_bytes(std::string("x"));
  EXPECT_EQ(str_of(r.recv_bytes()), "x");
  try {
    r.send(1);
    FAIL();
  } catch (const pyconc::OSError& e) {
    EXPECT_STREQ(e.what(), "connection is read-only");
  }
  try {
    w.recv<int>();
    FAIL();
  } catch (const pyconc::OSError& e) {
    EXPECT_STREQ(e.what(), "connection is write-only");
  }
  EXPECT_THROW(w.poll(), pyconc::OSError);
}

TEST(Pipe, SendBytesOffsetAndSize) {
  Connection a, b;
  std::tie(a, b) = Pipe();
  std::string s = "0123456789";
  a.send_bytes(s, 2);
  EXPECT_EQ(str_of(b.recv_bytes()), "23456789");
  a.send_bytes(s, 2, 3);
  EXPECT_EQ(str_of(b.recv_bytes()), "234");
  a.send_bytes(s, 10);
  EXPECT_EQ(str_of(b.recv_bytes()), "");
  a.send_bytes(s, 0, 0);
  EXPECT_EQ(b.recv_bytes().size(), 0u);
  auto expect_value_error = [&](auto f, const char* msg) {
    try {
      f();
      ADD_FAILURE() << "no ValueError";
    } catch (const pyconc::ValueError& e) {
      EXPECT_STREQ(e.what(), msg);
    }
  };
  expect_value_error([&] { a.send_bytes(s, -1); }, "offset is negative");
  expect_value_error([&] { a.send_bytes(s, 11); }, "buffer length < offset");
  expect_value_error([&] { a.send_bytes(s, 0, -1); }, "size is negative");
  expect_value_error([&] { a.send_bytes(s, 5, 6); }, "buffer length < offset + size");
  EXPECT_FALSE(b.poll());  // nothing was sent by the failed calls
}

TEST(Pipe, RecvBytesMaxlength) {
  {
    Connection a, b;
  std::tie(a, b) = Pipe();
    EXPECT_THROW(b.recv_bytes(-1), pyconc::ValueError);
    a.send_bytes(std::string("abc"));
    EXPECT_EQ(str_of(b.recv_bytes(3)), "abc");
    a.send_bytes(std::string("abcd"));
    try {
      b.recv_bytes(3);
      FAIL();
    } catch (const pyconc::OSError& e) {
      EXPECT_STREQ(e.what(), "bad message length");
    }
    // duplex: the end stays open but is no longer readable
    EXPECT_FALSE(b.closed());
    EXPECT_FALSE(b.readable());
    EXPECT_THROW(b.recv_bytes(), pyconc::OSError);
    b.send(1);  // still writable
    EXPECT_EQ(a.recv<int>(), 1);
  }
  {
    Connection r, w;
  std::tie(r, w) = Pipe(false);
    w.send_bytes(std::string("abcd"));
    EXPECT_THROW(r.recv_bytes(1), pyconc::OSError);
    EXPECT_TRUE(r.closed());  // read-only end: closed, as Python
  }
}

TEST(Pipe, RecvBytesInto) {
  Connection a, b;
  std::tie(a, b) = Pipe();
  std::vector<std::byte> buf(8, std::byte{'.'});
  a.send_bytes(std::string("abc"));
  EXPECT_EQ(b.recv_bytes_into(buf, 2), 3u);
  EXPECT_EQ(str_of(buf), "..abc...");
  a.send_bytes(std::string("123456"));
  EXPECT_EQ(b.recv_bytes_into(buf, 2), 6u);
  EXPECT_EQ(str_of(buf), "..123456");
  a.send_bytes(std::string("too long!"));
  try {
    b.recv_bytes_into(buf, 0);
    FAIL();
  } catch (const mp::BufferTooShort& e) {
    EXPECT_EQ(str_of(e.message()), "too long!");
    EXPECT_NE(dynamic_cast<const mp::ProcessError*>(&e), nullptr);
  }
  EXPECT_FALSE(b.poll());  // the long message was consumed
  EXPECT_THROW(b.recv_bytes_into(buf, -1), pyconc::ValueError);
  EXPECT_THROW(b.recv_bytes_into(buf, 9), pyconc::ValueError);
  a.send_bytes(std::string(""));
  EXPECT_EQ(b.recv_bytes_into(buf, 8), 0u);
}

TEST(Pipe, PollTimeouts) {
  Connection a, b;
  std::tie(a, b) = Pipe();
  EXPECT_FALSE(b.poll());
  EXPECT_FALSE(b.poll(-1s));  // negative = 0
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(b.poll(0.05s));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  a.send(1);
  EXPECT_TRUE(b.poll());
  EXPECT_TRUE(b.poll(pyconc::threading::TIMEOUT_MAX));
  EXPECT_TRUE(b.poll_forever());
  EXPECT_EQ(b.recv<int>(), 1);
  std::thread t([&] { a.send(2); });
  EXPECT_TRUE(b.poll(30s));
  t.join();
  EXPECT_EQ(b.recv<int>(), 2);
}

TEST(Pipe, CloseRules) {
  Connection a, b;
  std::tie(a, b) = Pipe();
  Connection copy = a;
  EXPECT_FALSE(a.closed());
  a.close();
  a.close();  // idempotent
  EXPECT_TRUE(a.closed());
  EXPECT_TRUE(copy.closed());  // copies share the end
  auto is_closed_error = [](auto f) {
    try {
      f();
      return false;
    } catch (const pyconc::OSError& e) {
      return std::string(e.what()) == "handle is closed";
    }
  };
  EXPECT_TRUE(is_closed_error([&] { a.send(1); }));
  EXPECT_TRUE(is_closed_error([&] { a.recv<int>(); }));
  EXPECT_TRUE(is_closed_error([&] { a.poll(); }));
  EXPECT_TRUE(is_closed_error([&] { a.fileno(); }));
  EXPECT_TRUE(is_closed_error([&] { a.send_bytes(std::string("x")); }));
  Connection never_opened;
  EXPECT_TRUE(never_opened.closed());
  EXPECT_TRUE(is_closed_error([&] { never_opened.recv_bytes(); }));
  // the other end sees EOF
  EXPECT_TRUE(b.poll());
  EXPECT_THROW(b.recv<int>(), pyconc::EOFError);
  EXPECT_THROW(b.send(1), pyconc::BrokenPipeError);
}

TEST(Pipe, DataBeforeCloseIsStillDelivered) {
  Connection a, b;
  std::tie(a, b) = Pipe();
  a.send(1);
  a.send(2);
  a.close();
  EXPECT_EQ(b.recv<int>(), 1);
  EXPECT_EQ(b.recv<int>(), 2);
  EXPECT_THROW(b.recv<int>(), pyconc::EOFError);
}

TEST(Pipe, CloseWakesABlockedRecvInThisProcess) {
  Connection a, b;
  std::tie(a, b) = Pipe();
  std::atomic<int> outcome{0};
  std::atomic<long> tid{0};
  std::thread t([&, b = b] () mutable {
    tid = static_cast<long>(::gettid());
    try {
      b.recv<int>();
      outcome = 1;
    } catch (const pyconc::OSError&) {
      outcome = 2;
    } catch (...) {
      outcome = 3;
    }
  });
  EXPECT_TRUE(pyconc_test::eventually([&] { return tid != 0 && asleep_in_ppoll(tid); }));
  b.close();
  t.join();
  EXPECT_EQ(outcome.load(), 2);
}

TEST(Pipe, CloseWakesACallerWaitingForTheReceiveLock) {
  // One thread receives (and holds the receive lock while it waits for data), a second
  // waits for that lock: close() must interrupt both (docs/conventions.md, "Thread safety").
  Connection a, b;
  std::tie(a, b) = Pipe();
  std::atomic<int> closed_errors{0};
  std::atomic<long> first_tid{0}, second_tid{0};
  auto receiver = [&](std::atomic<long>& tid) {
    return [&, b = b]() mutable {
      tid = static_cast<long>(::gettid());
      try {
        b.recv<int>();
      } catch (const pyconc::OSError&) {
        ++closed_errors;
      }
    };
  };
  std::thread first(receiver(first_tid));
  ASSERT_TRUE(pyconc_test::eventually([&] { return first_tid != 0 && asleep_in_ppoll(first_tid); }));
  std::thread second(receiver(second_tid));
  ASSERT_TRUE(pyconc_test::eventually([&] { return second_tid != 0 && pyconc_test::asleep_in_futex(second_tid); }));
  b.close();
  first.join();
  second.join();
  EXPECT_EQ(closed_errors.load(), 2);
}

TEST(Pipe, EchoChildAcrossFork) {
  Connection parent, child;
  std::tie(parent, child) = Pipe();
  pid_t pid = fork_child([c = child, p = parent]() mutable {
    p.close();
    for (;;) {
      int v;
      try {
        v = c.recv<int>();
      } catch (const pyconc::EOFError&) {
        return 0;
      }
      c.send(v * 2);
    }
  });
  child.close();
  for (int i = 0; i < 2000; ++i) {
    parent.send(i);
    ASSERT_EQ(parent.recv<int>(), 2 * i);
  }
  parent.close();
  int status = reap(pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(Pipe, EOFWhenPeerIsKilled) {
  Connection parent, child;
  std::tie(parent, child) = Pipe();
  pid_t pid = fork_child([c = child]() mutable {
    c.send(7);
    ::pause();
    return 0;
  });
  child.close();
  EXPECT_EQ(parent.recv<int>(), 7);
  ::kill(pid, SIGKILL);
  reap(pid);
  EXPECT_THROW(parent.recv<int>(), pyconc::EOFError);
  EXPECT_THROW(parent.send(1), pyconc::BrokenPipeError);
}

TEST(Pipe, EOFWhenWriterIsKilledMidMessage) {
  Connection parent, child;
  std::tie(parent, child) = Pipe();
  pid_t pid = fork_child([c = child]() mutable {
    // 8 MiB: more than the ring; nobody reads until it is killed
    std::vector<std::byte> big(8 << 20, std::byte{1});
    c.send_bytes(big);
    return 0;
  });
  child.close();
  // wait until the ring is full of the partial message, then kill the writer
  ASSERT_TRUE(parent.poll(30s));
  ::kill(pid, SIGKILL);
  reap(pid);
  EXPECT_THROW(parent.recv_bytes(), pyconc::EOFError);
}

TEST(Pipe, EOFWhenWriterDiesMidMessageWhileItsEndStaysOpenElsewhere) {
  // This process keeps its copy of the writing end open, so the liveness socket stays
  // up: the reader must notice that the sender holding the message is dead.
  Connection r, w;
  std::tie(r, w) = Pipe(false);
  pid_t pid = fork_child([w = w]() mutable {
    std::vector<std::byte> big(8 << 20, std::byte{1});
    w.send_bytes(big);
    return 0;
  });
  ASSERT_TRUE(r.poll(30s));
  ::kill(pid, SIGKILL);
  reap(pid);
  EXPECT_THROW(r.recv_bytes(), pyconc::EOFError);
  // The direction is now broken for everybody (the stream position is lost).
  EXPECT_THROW(w.send(1), pyconc::BrokenPipeError);
}

TEST(Pipe, BrokenPipeWhenReaderIsKilledMidMessage) {
  Connection parent, child;
  std::tie(parent, child) = Pipe();
  pid_t pid = fork_child([c = child]() mutable {
    c.send(1);  // ready
    ::pause();
    return 0;
  });
  child.close();
  EXPECT_EQ(parent.recv<int>(), 1);
  std::thread killer([&] {
    // kill once the writer is blocked for room (its message is bigger than the ring)
    EXPECT_TRUE(pyconc_test::eventually(ring_of_end0_full));
    ::kill(pid, SIGKILL);
  });
  std::vector<std::byte> big(8 << 20, std::byte{2});
  EXPECT_THROW(parent.send_bytes(big), pyconc::BrokenPipeError);
  killer.join();
  reap(pid);
}

TEST(Pipe, ConcurrentSendersDoNotInterleave) {
  Connection a, b;
  std::tie(a, b) = Pipe();
  constexpr int kPer = 200 / kLoad;
  auto sender = [&, a = a](char tag) mutable {
    for (int i = 0; i < kPer; ++i) {
      // alternate small and ring-sized messages so some are streamed
      std::size_t n = (i % 10 == 0) ? (3 << 20) / 2 : 100 + i;
      a.send_bytes(std::string(n, tag));
    }
  };
  std::thread t1(sender, 'x'), t2(sender, 'y');
  int counts[2] = {0, 0};
  for (int i = 0; i < 2 * kPer; ++i) {
    auto m = b.recv_bytes();
    ASSERT_FALSE(m.empty());
    char tag = static_cast<char>(m[0]);
    ASSERT_EQ(str_of(m), std::string(m.size(), tag));
    counts[tag == 'x' ? 0 : 1]++;
  }
  t1.join();
  t2.join();
  EXPECT_EQ(counts[0], kPer);
  EXPECT_EQ(counts[1], kPer);
}

TEST(Pipe, ConcurrentReceiversAcrossProcessesGetWholeMessages) {
  Connection a, b;
  std::tie(a, b) = Pipe();
  constexpr int kMessages = 400 / kLoad;
  std::vector<pid_t> kids;
  Connection resr, resw;
  std::tie(resr, resw) = Pipe(false);
  for (int k = 0; k < 2; ++k)
    kids.push_back(fork_child([b = b, w = resw]() mutable {
      long sum = 0;
      for (;;) {
        auto m = b.recv_bytes();
        if (m.size() == 1) break;  // end marker
        if (str_of(m) != std::string(m.size(), static_cast<char>(m[0]))) return 3;
        sum += static_cast<long>(m.size());
      }
      w.send(sum);
      return 0;
    }));
  resw.close();
  long expected = 0;
  for (int i = 0; i < kMessages; ++i) {
    std::size_t n = 2 + (i % 7 == 0 ? (1 << 20) + 17 : i);
    expected += static_cast<long>(n);
    a.send_bytes(std::string(n, static_cast<char>(i & 0x7f)));
  }
  a.send_bytes(std::string(1, 'e'));
  a.send_bytes(std::string(1, 'e'));
  long total = resr.recv<long>() + resr.recv<long>();
  EXPECT_EQ(total, expected);
  for (pid_t p : kids) {
    int st = reap(p);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  }
}

// Block i of the 1 GiB message is filled with byte (i * 37 + 11) & 0xff; blocks are a
// prime number of bytes long, so they never line up with the ring.
constexpr std::size_t kBlock = 1000003;
std::byte block_byte(std::size_t i) { return static_cast<std::byte>((i * 37 + 11) & 0xff); }

TEST(Pipe, OneGiBIntact) {
  Connection r, w;
  std::tie(r, w) = Pipe(false);
  constexpr std::size_t kSize = kBig;
  pid_t pid = fork_child([w = w, r = r]() mutable {
    r.close();
    std::unique_ptr<std::byte[]> big(new std::byte[kSize]);  // not zeroed first
    for (std::size_t at = 0, i = 0; at < kSize; at += kBlock, ++i)
      std::memset(big.get() + at, static_cast<int>(block_byte(i)), std::min(kBlock, kSize - at));
    w.send_bytes(std::span<const std::byte>(big.get(), kSize));
    return 0;
  });
  w.close();
  auto t0 = std::chrono::steady_clock::now();
  auto got = r.recv_bytes();
  ASSERT_EQ(got.size(), kSize);
  std::vector<std::byte> ref(kBlock);
  std::size_t bad_blocks = 0;
  for (std::size_t at = 0, i = 0; at < kSize; at += kBlock, ++i) {
    std::size_t n = std::min(kBlock, kSize - at);
    std::memset(ref.data(), static_cast<int>(block_byte(i)), n);
    if (std::memcmp(got.data() + at, ref.data(), n) != 0) ++bad_blocks;
  }
  EXPECT_EQ(bad_blocks, 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 120s);
  int st = reap(pid);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
