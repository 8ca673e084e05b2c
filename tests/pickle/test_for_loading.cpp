// pyconc::pickle: a type constructible from pickle::for_loading is built that way, never
// default-constructed, wherever the decoder makes a value (loads itself, tuple and pair
// members, std::array elements, sequence elements, optional and variant values, map
// keys and mapped values, and any nesting of these).
#include <gtest/gtest.h>

#include <array>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "pyconc/pickle.hpp"

namespace pickle = pyconc::pickle;

namespace {

// Counts how it was made: a default construction is what a handle must not see (it
// would create a shared object only to throw it away).
struct Counted {
  static inline int defaults = 0;
  static inline int blanks = 0;
  int v = 0;

  Counted() { ++defaults; }
  explicit Counted(pickle::for_loading_t) { ++blanks; }
  explicit Counted(int x) : v(x) {}
  bool operator==(const Counted& o) const { return v == o.v; }
  bool operator<(const Counted& o) const { return v < o.v; }
  template <class Archive>
  void serialize(Archive& ar) {
    ar(v);
  }
};

// Only loadable: no default constructor at all.
struct OnlyBlank {
  int v = 0;
  explicit OnlyBlank(pickle::for_loading_t) {}
  explicit OnlyBlank(int x) : v(x) {}
  template <class Archive>
  void serialize(Archive& ar) {
    ar(v);
  }
};

class ForLoading : public ::testing::Test {
 protected:
  void SetUp() override { Counted::defaults = Counted::blanks = 0; }

  // Round-trips `value`, and checks that loading it default-constructed no Counted and
  // built `blanks` of them from for_loading.
  template <class T>
  T round_trip(const T& value, int blanks) {
    auto bytes = pickle::dumps(value);
    Counted::defaults = Counted::blanks = 0;
    T out = pickle::loads<T>(bytes);
    EXPECT_EQ(Counted::defaults, 0);
    EXPECT_EQ(Counted::blanks, blanks);
    return out;
  }
};

TEST_F(ForLoading, TheValueItself) {
  EXPECT_EQ(round_trip(Counted(7), 1).v, 7);
}

TEST_F(ForLoading, TupleAndPairMembers) {
  auto t = round_trip(std::tuple<Counted, int, Counted>(Counted(1), 2, Counted(3)), 2);
  EXPECT_EQ(std::get<0>(t).v, 1);
  EXPECT_EQ(std::get<2>(t).v, 3);
  auto p = round_trip(std::pair<std::string, Counted>("a", Counted(4)), 1);
  EXPECT_EQ(p.second.v, 4);
}

TEST_F(ForLoading, SequenceElements) {
  std::vector<Counted> v{Counted(1), Counted(2), Counted(3)};
  EXPECT_EQ(round_trip(v, 3), v);
  std::deque<Counted> d{Counted(5)};
  EXPECT_EQ(round_trip(d, 1), d);
  std::list<Counted> l{Counted(6), Counted(7)};
  EXPECT_EQ(round_trip(l, 2), l);
}

TEST_F(ForLoading, OptionalAndVariant) {
  EXPECT_EQ(round_trip(std::optional<Counted>(Counted(8)), 1)->v, 8);
  EXPECT_FALSE(round_trip(std::optional<Counted>(), 0).has_value());
  auto var = round_trip(std::variant<int, Counted>(Counted(9)), 1);
  EXPECT_EQ(std::get<Counted>(var).v, 9);
  EXPECT_EQ(std::get<int>(round_trip(std::variant<int, Counted>(3), 0)), 3);
  // A blank variant holds a blank of its first alternative, then the loaded one.
  EXPECT_EQ(std::get<int>(round_trip(std::variant<Counted, int>(3), 1)), 3);
  EXPECT_EQ(std::get<Counted>(round_trip(std::variant<Counted, int>(Counted(4)), 2)).v, 4);
}

TEST_F(ForLoading, MapKeysAndValues) {
  std::map<int, Counted> m{{1, Counted(10)}, {2, Counted(20)}};
  EXPECT_EQ(round_trip(m, 2), m);
  std::map<Counted, Counted> both{{Counted(1), Counted(2)}};
  EXPECT_EQ(round_trip(both, 2), both);
  std::set<Counted> s{Counted(1), Counted(2)};
  EXPECT_EQ(round_trip(s, 2), s);
}

TEST_F(ForLoading, ArrayElements) {
  std::array<Counted, 3> a{Counted(1), Counted(2), Counted(3)};
  EXPECT_EQ(round_trip(a, 3), a);
}

TEST_F(ForLoading, Nested) {
  using Deep = std::vector<std::tuple<Counted, std::optional<std::pair<int, Counted>>, std::array<Counted, 2>>>;
  Deep deep;
  deep.emplace_back(Counted(1), std::pair<int, Counted>(2, Counted(3)), std::array<Counted, 2>{Counted(4), Counted(5)});
  deep.emplace_back(Counted(6), std::nullopt, std::array<Counted, 2>{Counted(7), Counted(8)});
  Deep out = round_trip(deep, 4 + 3);
  EXPECT_EQ(std::get<1>(out[0])->second.v, 3);
  EXPECT_EQ(std::get<2>(out[1])[1].v, 8);
  EXPECT_FALSE(std::get<1>(out[1]).has_value());
}

TEST_F(ForLoading, ATypeWithoutDefaultConstructorPickles) {
  static_assert(pickle::Picklable<OnlyBlank>);
  static_assert(pickle::Picklable<std::tuple<int, OnlyBlank>>);
  static_assert(pickle::Picklable<std::vector<std::optional<OnlyBlank>>>);
  auto t = pickle::loads<std::tuple<int, OnlyBlank>>(pickle::dumps(std::tuple<int, OnlyBlank>(1, OnlyBlank(2))));
  EXPECT_EQ(std::get<1>(t).v, 2);
}

TEST_F(ForLoading, OtherTypesAreValueInitialised) {
  // Types without the tag load as before (a blank is T{}).
  EXPECT_EQ((pickle::loads<std::tuple<int, std::string>>(pickle::dumps(std::tuple<int, std::string>(1, "x")))),
            (std::tuple<int, std::string>(1, "x")));
  static_assert(!pickle::detail::special_blank_v<std::tuple<int, std::string>>);
  static_assert(pickle::detail::special_blank_v<std::tuple<int, Counted>>);
}

}  // namespace
