// Tests for the small-object pool that holds future states (detail/task_memory.hpp):
// blocks are distinct, aligned and writable; memory freed on another thread, or after
// its allocating thread ended, is reused safely; large requests fall through.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include <pyconc/detail/task_memory.hpp>
#include <pyconc/futures.hpp>

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
