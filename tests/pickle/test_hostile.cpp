// pyconc::pickle on hostile input: every malformed payload is a ValueError, never a
// crash, a hang or an allocation bigger than the input justifies.
#include <gtest/gtest.h>

#include "sanitizers.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

#include "pyconc/pickle.hpp"

namespace pickle = pyconc::pickle;
using Bytes = std::vector<std::byte>;

namespace {

// Every allocation in this program is checked against a ceiling the tests set.
std::size_t g_ceiling = SIZE_MAX;

template <class... Parts>
Bytes concat(const Parts&... parts) {
  Bytes out;
  (out.insert(out.end(), parts.begin(), parts.end()), ...);
  return out;
}

Bytes u64(std::uint64_t v) {
  Bytes b(8);
  std::memcpy(b.data(), &v, 8);
  return b;
}

Bytes u8(std::uint8_t v) { return Bytes{std::byte{v}}; }

template <class T>
void expect_value_error(const Bytes& data, const char* fragment = "") {
  try {
    (void)pickle::loads<T>(data);
    ADD_FAILURE() << "no ValueError";
  } catch (const pyconc::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

struct User {
  std::string name;
  std::vector<int> values;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, values);
  }
};

struct Node {
  std::vector<Node> kids;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(kids);
  }
};

struct Big {  // 4 KiB in memory, nine bytes on the wire
  char tag = 0;
  std::string note;
  char room[4000] = {};
  template <class Archive>
  void serialize(Archive& ar) {
    ar(tag, note);
  }
};

struct Nothing {
  template <class Archive>
  void serialize(Archive&) {}
};

struct Picky {  // a user load that throws something other than ValueError
  int v = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(v);
    if (v < 0) throw std::out_of_range("negative");
  }
};

}  // namespace

// ThreadSanitizer's runtime defines operator new itself: there the ceiling is not
// enforced (the other builds check it).
#ifdef PYCONC_TEST_TSAN
#define PYCONC_TEST_NO_NEW_HOOK 1
#endif

#ifndef PYCONC_TEST_NO_NEW_HOOK
// g++ flags free() of what `new` returned once both are inlined; here both sides are ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wunknown-warning-option"
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  if (n > g_ceiling) throw std::bad_alloc();
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop
#endif

struct Ceiling {  // no allocation above `bytes` while alive
  explicit Ceiling(std::size_t bytes) { g_ceiling = bytes; }
  ~Ceiling() { g_ceiling = SIZE_MAX; }
};

TEST(PickleHostile, TruncatedAtEveryLength) {
  std::map<std::string, std::vector<std::optional<std::variant<int, std::string>>>> value{
      {"alpha", {std::nullopt, 5, std::string("five")}}, {"beta", {}}};
  Bytes full = pickle::dumps(value);
  for (std::size_t n = 0; n < full.size(); ++n) {
    Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_THROW((pickle::loads<decltype(value)>(cut)), pyconc::ValueError) << n;
  }
  EXPECT_THROW(pickle::loads<int>(Bytes{}), pyconc::ValueError);
  expect_value_error<int>(Bytes(3), "truncated");
}

TEST(PickleHostile, TrailingBytes) {
  Bytes b = pickle::dumps(std::string("abc"));
  b.push_back(std::byte{0});
  expect_value_error<std::string>(b, "trailing");
  expect_value_error<int>(Bytes(5), "trailing");
  Bytes u = pickle::dumps(User{"u", {1}});
  u.push_back(std::byte{1});
  expect_value_error<User>(u, "trailing");
}

TEST(PickleHostile, WrongTypeIsDetectedWhenItCannotParse) {
  expect_value_error<std::vector<double>>(pickle::dumps(std::string("not doubles")));
  expect_value_error<std::string>(pickle::dumps(42));
  expect_value_error<int>(pickle::dumps(std::int64_t{42}), "trailing");
  expect_value_error<std::tuple<int, int>>(pickle::dumps(1));
  // No type tags: bytes that parse as another type are that type.
  EXPECT_EQ(pickle::loads<std::uint32_t>(pickle::dumps(std::int32_t{-1})), 0xFFFFFFFFu);
}

TEST(PickleHostile, HugeLengthPrefixesAllocateNothing) {
  Ceiling ceiling(1 << 20);
  for (std::uint64_t n : {std::uint64_t{1} << 62, ~std::uint64_t{0}, std::uint64_t{1} << 31, std::uint64_t{9}}) {
    Bytes data = concat(u64(n), Bytes(8));
    expect_value_error<std::string>(data, "length prefix");
    expect_value_error<std::vector<int>>(data, "length prefix");
    expect_value_error<std::vector<bool>>(data, "length prefix");
    expect_value_error<std::vector<std::string>>(data, "length prefix");
    expect_value_error<std::list<std::vector<int>>>(data, "length prefix");
    expect_value_error<std::map<int, int>>(data, "length prefix");
    expect_value_error<std::unordered_map<std::string, int>>(data, "length prefix");
    expect_value_error<std::set<long>>(data, "length prefix");
    expect_value_error<std::vector<User>>(data, "length prefix");
    expect_value_error<User>(data, "length prefix");
  }
}

TEST(PickleHostile, EmptyElementsCannotInflate) {
  Ceiling ceiling(1 << 20);
  // A container of things that encode to nothing: the count is still bounded by the
  // bytes left (each element takes at least a padding byte).
  expect_value_error<std::vector<std::monostate>>(u64(~std::uint64_t{0}), "length prefix");
  expect_value_error<std::vector<std::tuple<>>>(u64(1'000'000'000), "length prefix");
  expect_value_error<std::vector<Nothing>>(u64(1'000'000'000), "length prefix");
  expect_value_error<std::set<std::monostate>>(u64(1 << 30), "length prefix");
  // The padding byte must be zero.
  expect_value_error<std::vector<std::monostate>>(concat(u64(1), u8(7)), "padding");
}

TEST(PickleHostile, BigElementsAreChargedToTheBudget) {
  // 4 KiB elements of unknown wire size (at least one byte): a count of 10 000 over
  // 10 000 bytes passes the count check, but 40 MB is past the allocation budget
  // (1 MiB + 64 x 10 008 bytes): nothing is allocated for them (test_budget.cpp has more).
  Bytes data = concat(u64(10000), Bytes(10000));
  Ceiling ceiling(1 << 20);
  expect_value_error<std::vector<Big>>(data, "allocation budget");
  // 200 of them fit in the budget: the vector is reserved, then the data runs out.
  expect_value_error<std::vector<Big>>(concat(u64(200), Bytes(200)), "truncated");
}

TEST(PickleHostile, InvalidBoolOptionalVariant) {
  expect_value_error<bool>(u8(2), "bool");
  expect_value_error<std::vector<bool>>(concat(u64(2), u8(1), u8(9)), "bool");
  expect_value_error<std::optional<int>>(concat(u8(2), Bytes(4)), "optional flag");
  expect_value_error<std::variant<int, std::string>>(concat(u8(2), Bytes(8)), "variant index");
  expect_value_error<std::variant<int, std::string>>(concat(u8(255), Bytes(8)), "variant index");
  EXPECT_EQ((pickle::loads<std::variant<int, std::string>>(concat(u8(0), Bytes(4)))), (std::variant<int, std::string>(0)));
}

TEST(PickleHostile, DuplicateKeys) {
  expect_value_error<std::map<int, int>>(concat(u64(2), pickle::dumps(1), pickle::dumps(2), pickle::dumps(1),
                                                pickle::dumps(3)),
                                         "twice");
  expect_value_error<std::set<int>>(concat(u64(2), pickle::dumps(1), pickle::dumps(1)), "twice");
}

TEST(PickleHostile, DeepUserRecursionIsBounded) {
  // Each level is one count of 1: a megabyte would recurse 131 072 deep.
  Bytes data;
  for (int i = 0; i < 100000; ++i) {
    Bytes one = u64(1);
    data.insert(data.end(), one.begin(), one.end());
  }
  Bytes zero = u64(0);
  data.insert(data.end(), zero.begin(), zero.end());
  expect_value_error<Node>(data, "nested deeper");
  // A shallow one is fine.
  Node n;
  n.kids.resize(1);
  n.kids[0].kids.resize(2);
  EXPECT_EQ(pickle::loads<Node>(pickle::dumps(n)).kids[0].kids.size(), 2u);
}

TEST(PickleHostile, UserLoadThatThrowsIsValueError) {
  expect_value_error<Picky>(pickle::dumps(-1), "negative");
  EXPECT_EQ(pickle::loads<Picky>(pickle::dumps(3)).v, 3);
}

TEST(PickleHostile, RandomBytesNeverCrash) {
  std::uint64_t state = 12345;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  Ceiling ceiling(1 << 20);
  for (int round = 0; round < 20000; ++round) {
    Bytes data(next() % 40);
    for (auto& b : data) b = std::byte(next() % 4 == 0 ? next() : next() % 3);
    try {
      (void)pickle::loads<std::map<std::string, std::vector<std::variant<bool, std::optional<User>>>>>(data);
    } catch (const pyconc::ValueError&) {
    }
  }
}
