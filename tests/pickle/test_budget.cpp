// pyconc::pickle's allocation budget (docs/conventions.md, "Serialisation"): a payload
// may make loads allocate at most 1 MiB + 64 × its size. Hostile payloads of elements big in memory and small on
// the wire (a nullopt of a 4 KiB array is one byte) raise ValueError; the bytes live in
// this program never rise by more than the budget while they are decoded.
#include <gtest/gtest.h>

#include "sanitizers.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "pyconc/pickle.hpp"

namespace pickle = pyconc::pickle;
using Bytes = std::vector<std::byte>;

// ThreadSanitizer's runtime defines operator new itself: there the peak is not measured
// (the ValueErrors are still checked; the other builds check the peak too).
#ifdef PYCONC_TEST_TSAN
#define PYCONC_TEST_NO_NEW_HOOK 1
#endif

// 1 GiB; 128 MiB under the sanitizers, which instrument every byte copied.

namespace {

#ifdef PYCONC_SANITIZED
constexpr std::size_t kHuge = std::size_t{128} << 20;
#else
constexpr std::size_t kHuge = std::size_t{1} << 30;
#endif

std::atomic<std::size_t> g_live{0};  // bytes allocated by operator new and not freed
std::atomic<std::size_t> g_peak{0};

#ifndef PYCONC_TEST_NO_NEW_HOOK
constexpr bool kMeasured = true;
#else
constexpr bool kMeasured = false;
#endif

Bytes u64(std::uint64_t v) {
  Bytes b(8);
  std::memcpy(b.data(), &v, 8);
  return b;
}

// A count, then `n` zero bytes: n elements that each encode to one zero byte (a nullopt,
// a variant's first alternative of a monostate).
Bytes count_then_zeros(std::uint64_t n) {
  Bytes out = u64(n);
  out.resize(out.size() + n);
  return out;
}

Bytes repeat(std::uint64_t n, const Bytes& one) {
  Bytes out = u64(n);
  for (std::uint64_t i = 0; i < n; ++i) out.insert(out.end(), one.begin(), one.end());
  return out;
}

std::size_t budget(const Bytes& data) { return (std::size_t{1} << 20) + 64 * data.size(); }

// Loads `data` as a T expecting the budget's ValueError; checks that the bytes live
// during the load never rose by more than the budget (plus a little for the exception).
template <class T>
void expect_over_budget(const Bytes& data) {
  std::size_t base = g_live.load();
  g_peak.store(base);
  try {
    (void)pickle::loads<T>(data);
    ADD_FAILURE() << "no ValueError";
  } catch (const pyconc::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("allocation budget"), std::string::npos) << e.what();
  }
  if (kMeasured) {
    EXPECT_LE(g_peak.load() - base, budget(data) + 4096);
  }
}

template <class T>
T load_measured(const Bytes& data) {
  std::size_t base = g_live.load();
  g_peak.store(base);
  T value = pickle::loads<T>(data);
  if (kMeasured) {
    EXPECT_LE(g_peak.load() - base, budget(data) + 4096);
  }
  return value;
}

using Page = std::array<char, 4096>;

struct Holder {  // a user type: read through the cereal archive
  std::vector<std::optional<Page>> pages;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(pages);
  }
};

struct Key {  // two bytes on the wire, 4 KiB in memory
  std::uint16_t id = 0;
  char room[4094] = {};
  bool operator<(const Key& o) const { return id < o.id; }
  template <class Archive>
  void serialize(Archive& ar) {
    ar(id);
  }
};

}  // namespace

#ifndef PYCONC_TEST_NO_NEW_HOOK
// g++ flags free() of what `new` returned once both are inlined; here both sides are ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wunknown-warning-option"
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
// Each block carries its requested size in a 16-byte header (keeping new's alignment),
// so the live count is of what was asked for, not of malloc's rounding. Not inlined: at
// -O3 g++ would follow the header arithmetic into its callers and report false
// array-bounds errors there.
__attribute__((noinline)) void* operator new(std::size_t n) {
  auto* p = static_cast<std::size_t*>(std::malloc(n + 16));
  if (p == nullptr) throw std::bad_alloc();
  *p = n;
  std::size_t live = g_live.fetch_add(n) + n;
  std::size_t peak = g_peak.load();
  while (live > peak && !g_peak.compare_exchange_weak(peak, live)) {
  }
  return reinterpret_cast<std::byte*>(p) + 16;
}
__attribute__((noinline)) void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  auto* block = reinterpret_cast<std::size_t*>(static_cast<std::byte*>(p) - 16);
  g_live.fetch_sub(*block);
  std::free(block);
}
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept { operator delete(p); }
#pragma GCC diagnostic pop
#endif

TEST(PickleBudget, NulloptsOfBigArraysRaise) {
  // Before the budget: 2 008 bytes made a vector of 2 000 × 4 KiB, 8 MB.
  expect_over_budget<std::vector<std::optional<Page>>>(count_then_zeros(2000));
  expect_over_budget<std::vector<std::variant<std::monostate, Page>>>(count_then_zeros(2000));
  expect_over_budget<std::deque<std::optional<Page>>>(count_then_zeros(2000));
  expect_over_budget<std::list<std::optional<Page>>>(count_then_zeros(2000));
}

TEST(PickleBudget, MapsAndSetsRaise) {
  // Distinct 2-byte keys, each mapped to a nullopt: 3 bytes on the wire, 2 KiB a node.
  Bytes data = u64(3000);
  for (std::uint16_t k = 0; k < 3000; ++k) {
    Bytes key = pickle::dumps(k);
    data.insert(data.end(), key.begin(), key.end());
    data.push_back(std::byte{0});
  }
  expect_over_budget<std::map<std::uint16_t, std::optional<std::array<char, 2048>>>>(data);
  expect_over_budget<std::unordered_map<std::uint16_t, std::optional<std::array<char, 2048>>>>(data);
  expect_over_budget<std::multimap<std::uint16_t, std::optional<std::array<char, 2048>>>>(data);
  // Distinct 2-byte keys of a user type 4 KiB big in memory.
  Bytes keys = u64(3000);
  for (std::uint16_t k = 0; k < 3000; ++k) {
    Bytes key = pickle::dumps(k);
    keys.insert(keys.end(), key.begin(), key.end());
  }
  expect_over_budget<std::set<Key>>(keys);
}

TEST(PickleBudget, NestedContainersShareTheBudget) {
  // 20 inner vectors of 400 nullopts of 512-byte arrays: each fits the budget alone
  // (205 KB of 1.5 MB), all together (4 MB from 8 KB) do not.
  Bytes inner = count_then_zeros(400);
  Bytes data = repeat(20, inner);
  expect_over_budget<std::vector<std::vector<std::optional<std::array<char, 512>>>>>(data);
  EXPECT_EQ((pickle::loads<std::vector<std::optional<std::array<char, 512>>>>(inner).size()), 400u);
  // Empty deques: 8 bytes each on the wire, an 80-byte deque holding a 576-byte map
  // and block in memory.
  expect_over_budget<std::vector<std::deque<char>>>(repeat(20000, u64(0)));
}

TEST(PickleBudget, UserTypesShareTheBudget) {
  expect_over_budget<Holder>(count_then_zeros(2000));
  expect_over_budget<std::vector<Holder>>(repeat(3, count_then_zeros(200)));
  EXPECT_EQ(pickle::loads<std::vector<Holder>>(repeat(1, count_then_zeros(200)))[0].pages.size(), 200u);
}

TEST(PickleBudget, TheBoundIsOneMiBPlus64TimesTheInput) {
  // 256-byte elements, one byte each on the wire: n of them cost 256 n of a budget of
  // 1 MiB + 64 (8 + n), equal at n = 5 464.
  using Elem = std::optional<std::array<char, 255>>;
  static_assert(sizeof(Elem) == 256);
  EXPECT_EQ(load_measured<std::vector<Elem>>(count_then_zeros(5464)).size(), 5464u);
  expect_over_budget<std::vector<Elem>>(count_then_zeros(5465));
  EXPECT_EQ(pickle::detail::budget_for(1000), (std::size_t{1} << 20) + 64000);
  EXPECT_EQ(pickle::detail::budget_for(SIZE_MAX / 2), SIZE_MAX);  // saturates
}

TEST(PickleBudget, OneGiBVectorOfCharLoads) {
  // The pickle of a 1 GiB vector<char>: its count, then the bytes.
  Bytes data(8 + kHuge, std::byte{'z'});
  Bytes count = u64(kHuge);
  std::memcpy(data.data(), count.data(), count.size());
  auto v = load_measured<std::vector<char>>(data);
  ASSERT_EQ(v.size(), kHuge);
  EXPECT_EQ(v.front(), 'z');
  EXPECT_EQ(v.back(), 'z');
}

TEST(PickleBudget, LegitimatePayloadsLoad) {
  // Bytes-like: memory equals the wire.
  std::vector<char> chars(16 << 20, 'x');
  EXPECT_EQ(load_measured<std::vector<char>>(pickle::dumps(chars)), chars);
  std::string text(8 << 20, 'y');
  EXPECT_EQ(load_measured<std::string>(pickle::dumps(text)), text);
  // Many short strings: 32 bytes of std::string per 8-byte count.
  std::vector<std::string> words(1'000'000);
  for (std::size_t i = 0; i < words.size(); ++i) words[i] = std::to_string(i % 97);
  EXPECT_EQ(load_measured<std::vector<std::string>>(pickle::dumps(words)), words);
  // 16-byte nullopts from one byte each; 40-byte variants of a monostate from one byte.
  std::vector<std::optional<double>> gaps(1'000'000);
  EXPECT_EQ(load_measured<std::vector<std::optional<double>>>(pickle::dumps(gaps)), gaps);
  std::vector<std::variant<std::monostate, std::string>> unset(200'000);
  EXPECT_EQ((load_measured<std::vector<std::variant<std::monostate, std::string>>>(pickle::dumps(unset))), unset);
  // Node containers of small elements.
  std::map<int, int> squares;
  std::set<int> odd;
  std::list<int> seq;
  std::unordered_map<std::string, int> index;
  for (int i = 0; i < 200'000; ++i) {
    squares[i] = (i % 1000) * (i % 1000);
    odd.insert(2 * i + 1);
    seq.push_back(i);
    index[std::to_string(i)] = i;
  }
  EXPECT_EQ((load_measured<std::map<int, int>>(pickle::dumps(squares))), squares);
  EXPECT_EQ(load_measured<std::set<int>>(pickle::dumps(odd)), odd);
  EXPECT_EQ(load_measured<std::list<int>>(pickle::dumps(seq)), seq);
  EXPECT_EQ((load_measured<std::unordered_map<std::string, int>>(pickle::dumps(index))), index);
  // A few big elements fit in the fixed allowance.
  std::vector<std::optional<Page>> pages(100);
  pages[7].emplace().fill('p');
  EXPECT_EQ(load_measured<std::vector<std::optional<Page>>>(pickle::dumps(pages)), pages);
}
