// Tests for the memory of futures: the small-object pool that holds future states
// (futures/detail/task_memory.hpp): blocks are distinct, aligned and writable; memory freed on
// another thread, or after its allocating thread ended, is reused safely; large
// requests fall through. The bulk memory of long lists (futures/detail/bulk_memory.hpp) and
// futures::FutureList over it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <set>
#include <thread>
#include <vector>

#include <pyconc/futures.hpp>
#include <pyconc/futures/detail/bulk_memory.hpp>
#include <pyconc/futures/detail/task_memory.hpp>

namespace detail = pyconc::detail;
namespace futures = pyconc::futures;

namespace {

struct Piece {
  void* p;
  std::size_t size;
};

// Fills a block with a pattern derived from its address and size; checks it later.
void stamp(const Piece& b) { std::memset(b.p, static_cast<int>((reinterpret_cast<std::uintptr_t>(b.p) >> 4) ^ b.size) & 0xff, b.size); }
bool intact(const Piece& b) {
  auto want = static_cast<unsigned char>(((reinterpret_cast<std::uintptr_t>(b.p) >> 4) ^ b.size) & 0xff);
  auto* c = static_cast<unsigned char*>(b.p);
  return std::all_of(c, c + b.size, [&](unsigned char x) { return x == want; });
}

}  // namespace

TEST(TaskMemory, BlocksAreDistinctAlignedAndHoldTheirContents) {
  std::vector<Piece> live;
  for (int round = 0; round < 3; ++round) {
    for (std::size_t size = 1; size <= detail::kMaxSmall + 64; size += 7) {
      Piece b{detail::small_allocate(size), size};
      ASSERT_NE(b.p, nullptr);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.p) % detail::kSmallAlign, 0u) << size;
      stamp(b);
      live.push_back(b);
    }
  }
  std::set<void*> addresses;
  for (auto& b : live) addresses.insert(b.p);
  EXPECT_EQ(addresses.size(), live.size());
  for (auto& b : live) EXPECT_TRUE(intact(b));
  for (auto& b : live) detail::small_deallocate(b.p, b.size);
}

TEST(TaskMemory, FreedBlocksAreReused) {
  // A burst far beyond one batch, freed and allocated again: the second burst must not
  // need new memory for long (reuse), and every block must be whole.
  std::vector<Piece> live;
  for (int i = 0; i < 20000; ++i) live.push_back({detail::small_allocate(128), 128});
  std::set<void*> first;
  for (auto& b : live) first.insert(b.p);
  for (auto& b : live) detail::small_deallocate(b.p, b.size);
  live.clear();
  int reused = 0;
  for (int i = 0; i < 20000; ++i) {
    Piece b{detail::small_allocate(128), 128};
    reused += first.count(b.p) != 0;
    stamp(b);
    live.push_back(b);
  }
  if (detail::small_pool_active()) {
    EXPECT_GT(reused, 19000);
  }
  for (auto& b : live) EXPECT_TRUE(intact(b));
  for (auto& b : live) detail::small_deallocate(b.p, b.size);
}

TEST(TaskMemory, AllocatedHereFreedThereManyThreads) {
  // Producers allocate and stamp; consumers check and free: blocks cross threads both
  // ways, through the per-thread lists and the global one. Threads end and start, so
  // their lists are handed back.
  constexpr int kRounds = 4, kPairs = 3, kPerThread = 30000;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::vector<Piece>> handed(kPairs);
    std::vector<std::thread> threads;
    for (int t = 0; t < kPairs; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          std::size_t size = 16 + static_cast<std::size_t>((i * 37 + t * 11) % 480);
          Piece b{detail::small_allocate(size), size};
          stamp(b);
          handed[t].push_back(b);
        }
      });
    for (auto& th : threads) th.join();
    threads.clear();
    std::atomic<int> broken{0};
    for (int t = 0; t < kPairs; ++t)
      threads.emplace_back([&, t] {
        // Free another thread's blocks, interleaved with allocations of our own.
        std::vector<Piece> mine;
        for (auto& b : handed[(t + 1) % kPairs]) {
          if (!intact(b)) broken.fetch_add(1);
          detail::small_deallocate(b.p, b.size);
          Piece n{detail::small_allocate(b.size), b.size};
          stamp(n);
          mine.push_back(n);
        }
        for (auto& b : mine) {
          if (!intact(b)) broken.fetch_add(1);
          detail::small_deallocate(b.p, b.size);
        }
      });
    for (auto& th : threads) th.join();
    EXPECT_EQ(broken.load(), 0) << "round " << round;
  }
}

TEST(TaskMemory, OverAlignedResultsStillWork) {
  struct alignas(64) Wide {
    unsigned char bytes[64];
  };
  futures::ThreadPoolExecutor ex(2);
  std::vector<futures::Future<Wide>> fs;
  for (int i = 0; i < 100; ++i)
    fs.push_back(ex.submit([i] {
      Wide w;
      std::memset(w.bytes, i, sizeof w.bytes);
      return w;
    }));
  for (int i = 0; i < 100; ++i) {
    const Wide& w = fs[i].result();
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(&w) % 64, 0u);
    EXPECT_EQ(w.bytes[63], static_cast<unsigned char>(i));
  }
}

TEST(TaskMemory, FuturesOutliveTheThreadsThatMadeThem) {
  // Futures created on short-lived threads, released on this one after they ended.
  std::vector<futures::Future<std::string>> kept;
  for (int t = 0; t < 8; ++t) {
    std::thread maker([&] {
      for (int i = 0; i < 1000; ++i) {
        futures::Future<std::string> f;
        f.set_result(std::string(40, static_cast<char>('a' + i % 26)));
        kept.push_back(f);
      }
    });
    maker.join();
  }
  for (std::size_t i = 0; i < kept.size(); ++i) EXPECT_EQ(kept[i].result()[39], static_cast<char>('a' + i % 1000 % 26));
  kept.clear();
}

TEST(BulkMemory, SmallAndLargeBuffersAreAlignedAndHoldTheirContents) {
  // Below, at and above the mapping threshold, with ordinary and large alignments.
  const std::size_t sizes[] = {1, 4096, detail::kBulkMin - 1, detail::kBulkMin, detail::kBulkMin + 1,
                               (std::size_t{2} << 20) + 16, std::size_t{5} << 20};
  const std::size_t aligns[] = {8, 16, 64, 4096};
  std::vector<Piece> live;
  std::vector<std::size_t> live_align;
  for (std::size_t size : sizes)
    for (std::size_t align : aligns) {
      Piece b{detail::bulk_allocate(size, align), size};
      ASSERT_NE(b.p, nullptr);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.p) % align, 0u) << size << " " << align;
      stamp(b);
      live.push_back(b);
      live_align.push_back(align);
    }
  for (auto& b : live) EXPECT_TRUE(intact(b));
  for (std::size_t i = 0; i < live.size(); ++i) detail::bulk_deallocate(live[i].p, live[i].size, live_align[i]);
}

TEST(BulkMemory, AnImpossibleSizeIsBadAlloc) {
  detail::BulkAllocator<std::uint64_t> alloc;
  EXPECT_THROW(alloc.allocate(static_cast<std::size_t>(-1) / 4), std::bad_array_new_length);  // n * 8 overflows
  // (Under AddressSanitizer, operator new reports an impossible size as an error.)
  if (detail::bulk_mapping_active()) {
    EXPECT_THROW(detail::bulk_allocate(static_cast<std::size_t>(-1) - 4096, 16), std::bad_alloc);
  }
}

TEST(FutureList, ALongListGrowsAndKeepsItsFutures) {
  // 200,000 futures (3.2 MB): grown by push_back through several mapped buffers.
  futures::FutureList<int> list;
  for (int i = 0; i < 200000; ++i) {
    futures::Future<int> f;
    if (i % 1000 == 0) f.set_result(i);
    list.push_back(f);
  }
  ASSERT_EQ(list.size(), 200000u);
  for (int i = 0; i < 200000; i += 1000) EXPECT_EQ(list[static_cast<std::size_t>(i)].result(), i);
  EXPECT_FALSE(list[1].done());
  futures::FutureList<int> copy = list;
  EXPECT_TRUE(copy[199000] == list[199000]);
  list.clear();
  list.shrink_to_fit();
  EXPECT_EQ(copy[199000].result(), 199000);
}

TEST(FutureList, ConvertsToAndFromAVectorOfTheSameFutures) {
  std::vector<futures::Future<int>> plain(3);
  futures::FutureList<int> list = plain;
  ASSERT_EQ(list.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_TRUE(list[i] == plain[i]);
  list[1].set_result(7);
  EXPECT_EQ(plain[1].result(), 7) << "the same futures, not new ones";
  std::vector<futures::Future<int>> back = list;
  ASSERT_EQ(back.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_TRUE(back[i] == list[i]);
  // wait()'s lists pass back into wait() and into a std::vector, as Python's sets do.
  auto r = futures::wait(list, std::chrono::milliseconds(1), futures::FIRST_COMPLETED);
  ASSERT_EQ(r.done.size(), 1u);
  EXPECT_TRUE(r.done[0] == plain[1]);
  plain = std::move(r.not_done);
  ASSERT_EQ(plain.size(), 2u);
  EXPECT_TRUE(plain[0] == list[0] && plain[1] == list[2]);
}
