// A Pipe's rings in shared memory: corrupt bytes there are an error, never undefined
// behaviour. The tests scribble at the layout's offsets (a 64-byte header, then one
// 192-byte Direction per direction with `tail` 64 bytes in; the rings from 4096 on).
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <string>
#include <tuple>

#include <gtest/gtest.h>

#include "mp_support.hpp"
#include "pyconc/multiprocessing/connection.hpp"
#include "pyconc/multiprocessing/detail/shared_segment.hpp"

namespace mp = pyconc::multiprocessing;
using mp::Connection;
using mp::Pipe;

TEST(Corrupt, BadLengthHeaderIsOSError) {
  Connection r, w;
  std::tie(r, w) = Pipe(false);
  w.send_bytes(std::string("hello world"));
  // Scribble over the length header: claims far more than was sent.
  void* base = nullptr;
  {
    // Find the ring via /dev/shm: the only segment of this family.
    auto names = pyconc_test::family_segments();
    ASSERT_EQ(names.size(), 1u);
    auto seg = pyconc::multiprocessing::detail::SharedSegment::open(names[0]);
    base = seg->data();
    auto* ring = static_cast<unsigned char*>(base) + 4096;
    ring[3] = 0x7f;  // length = huge (< 2^46 limit? no: byte 3 -> 2^30 range)
    try {
      r.recv_bytes();
      ADD_FAILURE() << "no exception";
    } catch (const pyconc::OSError& e) {
      EXPECT_EQ(e.errnum(), EBADMSG) << e.what();
    }
  }
}

TEST(Corrupt, LengthBeyondLimitAndCountersOutOfRange) {
  Connection r, w;
  std::tie(r, w) = Pipe(false);
  w.send_bytes(std::string("x"));
  auto names = pyconc_test::family_segments();
  ASSERT_EQ(names.size(), 1u);
  auto seg = pyconc::multiprocessing::detail::SharedSegment::open(names[0]);
  auto* ring = static_cast<unsigned char*>(seg->data()) + 4096;
  ring[7] = 0xff;  // length >= 2^56
  EXPECT_THROW(r.recv_bytes(), pyconc::OSError);
  // head far ahead of tail
  auto* head = reinterpret_cast<std::atomic<std::uint64_t>*>(static_cast<char*>(seg->data()) + 64);
  head->store(std::uint64_t{1} << 40);
  EXPECT_THROW(r.recv_bytes(), pyconc::OSError);
  EXPECT_THROW(w.send_bytes(std::string("y")), pyconc::OSError);
}
