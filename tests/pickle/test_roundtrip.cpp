// pyconc::pickle: round trips of every type that docs/conventions.md, "Serialisation"
// lists, user types, the zero-overhead path, and the size of what is written.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "pyconc/pickle.hpp"

namespace pickle = pyconc::pickle;

namespace {

template <class T>
T round_trip(const T& value) {
  return pickle::loads<T>(pickle::dumps(value));
}

enum class Colour : std::uint8_t { red = 1, green = 2, blue = 200 };
enum Plain { kA = 1, kB = 7 };

struct Point {  // trivially copyable, no serialize: its bytes
  double x;
  double y;
  int tag;
  bool operator==(const Point&) const = default;
};

struct Person {  // a user type with a cereal serialize member
  std::string name;
  int age = 0;
  std::vector<std::string> tags;
  std::optional<Point> home;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, age, tags, home);
  }
  bool operator==(const Person&) const = default;
};

class Account {  // private members, save/load pair, cereal::access
 public:
  Account() = default;
  Account(std::string owner, long long cents) : owner_(std::move(owner)), cents_(cents) {}
  bool operator==(const Account&) const = default;

 private:
  friend class cereal::access;
  template <class Archive>
  void save(Archive& ar) const {
    ar(owner_, cents_);
  }
  template <class Archive>
  void load(Archive& ar) {
    ar(owner_, cents_);
  }
  std::string owner_;
  long long cents_ = 0;
};

struct Celsius {  // a free serialize function, found by ADL, with a cereal NVP
  float degrees = 0;
  bool operator==(const Celsius&) const = default;
};
template <class Archive>
void serialize(Archive& ar, Celsius& c) {
  ar(cereal::make_nvp("degrees", c.degrees));
}

struct Versioned {  // a versioned serialize and the & operator
  int a = 0;
  template <class Archive>
  void serialize(Archive& ar, const std::uint32_t version) {
    ar & a;
    if (version != 3) throw std::runtime_error("wrong version");
  }
  bool operator==(const Versioned&) const = default;
};

struct Tree {  // a recursive user type
  int value = 0;
  std::vector<Tree> children;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(value, children);
  }
  bool operator==(const Tree&) const = default;
};

struct Minimal {  // save_minimal/load_minimal through cereal's own path
  std::string text;
  template <class Archive>
  std::string save_minimal(const Archive&) const {
    return text;
  }
  template <class Archive>
  void load_minimal(const Archive&, const std::string& value) {
    text = value;
  }
  bool operator==(const Minimal&) const = default;
};

struct Empty {
  bool operator==(const Empty&) const = default;
};

struct Nothing {  // a user type that writes nothing
  template <class Archive>
  void serialize(Archive&) {}
  bool operator==(const Nothing&) const = default;
};

}  // namespace

CEREAL_CLASS_VERSION(Versioned, 3);

TEST(PickleRoundTrip, Arithmetic) {
  EXPECT_EQ(round_trip(42), 42);
  EXPECT_EQ(round_trip(-7LL), -7LL);
  EXPECT_EQ(round_trip(std::numeric_limits<std::uint64_t>::max()), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(round_trip('x'), 'x');
  EXPECT_EQ(round_trip(true), true);
  EXPECT_EQ(round_trip(false), false);
  EXPECT_EQ(round_trip(3.25), 3.25);
  EXPECT_EQ(round_trip(1.5f), 1.5f);
  EXPECT_EQ(round_trip(static_cast<short>(-3)), -3);
  EXPECT_TRUE(std::isnan(round_trip(std::numeric_limits<double>::quiet_NaN())));
}

TEST(PickleRoundTrip, Enums) {
  EXPECT_EQ(round_trip(Colour::blue), Colour::blue);
  EXPECT_EQ(round_trip(kB), kB);
  EXPECT_EQ(pickle::dumps(Colour::green).size(), 1u);
}

TEST(PickleRoundTrip, Strings) {
  EXPECT_EQ(round_trip(std::string()), "");
  EXPECT_EQ(round_trip(std::string("hello")), "hello");
  std::string big(100000, 'z');
  big[500] = '\0';
  EXPECT_EQ(round_trip(big), big);
  EXPECT_EQ(round_trip(std::u16string(u"h\u00e9")), u"h\u00e9");
  EXPECT_EQ(pickle::dumps(std::string("abc")).size(), 8u + 3u);
}

TEST(PickleRoundTrip, Sequences) {
  EXPECT_EQ(round_trip(std::vector<int>{}), std::vector<int>{});
  EXPECT_EQ(round_trip(std::vector<int>{1, 2, 3}), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(round_trip(std::vector<bool>{true, false, true}), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(round_trip(std::vector<std::string>{"a", "", "ccc"}), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(round_trip(std::deque<double>{1.5, 2.5}), (std::deque<double>{1.5, 2.5}));
  EXPECT_EQ(round_trip(std::list<std::string>{"x", "y"}), (std::list<std::string>{"x", "y"}));
  EXPECT_EQ(round_trip(std::vector<std::vector<int>>{{1}, {}, {2, 3}}), (std::vector<std::vector<int>>{{1}, {}, {2, 3}}));
  EXPECT_EQ(round_trip(std::vector<Point>{{1, 2, 3}, {4, 5, 6}}), (std::vector<Point>{{1, 2, 3}, {4, 5, 6}}));
}

TEST(PickleRoundTrip, Arrays) {
  std::array<int, 3> a{1, 2, 3};
  EXPECT_EQ(round_trip(a), a);
  EXPECT_EQ(pickle::dumps(a).size(), sizeof(a));  // no count
  std::array<std::string, 2> s{"a", "bb"};
  EXPECT_EQ(round_trip(s), s);
  std::array<bool, 3> b{true, false, true};
  EXPECT_EQ(round_trip(b), b);
  std::array<int, 0> none{};
  EXPECT_EQ(round_trip(none), none);
}

TEST(PickleRoundTrip, Associative) {
  std::map<std::string, int> m{{"a", 1}, {"b", 2}};
  EXPECT_EQ(round_trip(m), m);
  std::multimap<int, int> mm{{1, 1}, {1, 2}, {0, 3}};
  EXPECT_EQ(round_trip(mm), mm);
  std::set<std::string> s{"x", "y", "z"};
  EXPECT_EQ(round_trip(s), s);
  std::multiset<int> ms{1, 1, 2};
  EXPECT_EQ(round_trip(ms), ms);
  std::unordered_map<int, std::vector<std::string>> um{{1, {"a"}}, {2, {}}};
  EXPECT_EQ(round_trip(um), um);
  std::unordered_set<long> us{1, 2, 3};
  EXPECT_EQ(round_trip(us), us);
  std::map<int, std::map<int, std::string>> nested{{1, {{2, "two"}}}, {3, {}}};
  EXPECT_EQ(round_trip(nested), nested);
}

TEST(PickleRoundTrip, OptionalVariantTuplePair) {
  EXPECT_EQ(round_trip(std::optional<int>()), std::nullopt);
  EXPECT_EQ(round_trip(std::optional<int>(5)), 5);
  EXPECT_EQ(round_trip(std::optional<std::string>("s")), "s");
  using V = std::variant<std::monostate, int, std::string, std::vector<double>>;
  EXPECT_EQ(round_trip(V()), V());
  EXPECT_EQ(round_trip(V(7)), V(7));
  EXPECT_EQ(round_trip(V(std::string("str"))), V(std::string("str")));
  EXPECT_EQ(round_trip(V(std::vector<double>{1.0})), V(std::vector<double>{1.0}));
  std::tuple<int, std::string, std::optional<double>, bool> t{1, "x", 2.5, true};
  EXPECT_EQ(round_trip(t), t);
  EXPECT_EQ(round_trip(std::tuple<>()), std::tuple<>());
  std::pair<std::string, std::vector<int>> p{"k", {1, 2}};
  EXPECT_EQ(round_trip(p), p);
  EXPECT_EQ(round_trip(std::monostate()), std::monostate());
  EXPECT_EQ(pickle::dumps(std::monostate()).size(), 0u);
}

TEST(PickleRoundTrip, EmptyElementsInContainers) {
  // Elements that encode to nothing still round-trip (each is padded to one byte).
  std::vector<std::monostate> monos(1000);
  EXPECT_EQ(round_trip(monos).size(), 1000u);
  std::vector<std::tuple<>> tuples(5);
  EXPECT_EQ(round_trip(tuples).size(), 5u);
  std::vector<Empty> empties(7);
  EXPECT_EQ(round_trip(empties).size(), 7u);
  std::vector<Nothing> nothings(9);
  EXPECT_EQ(round_trip(nothings).size(), 9u);
  std::set<std::monostate> one{std::monostate()};
  EXPECT_EQ(round_trip(one), one);
  std::map<std::monostate, std::tuple<>> m{{std::monostate(), std::tuple<>()}};
  EXPECT_EQ(round_trip(m), m);
}

TEST(PickleRoundTrip, NestedCombinations) {
  using Deep = std::map<std::string, std::vector<std::variant<int, std::optional<std::pair<int, std::string>>,
                                                              std::unordered_map<int, std::set<std::string>>>>>;
  Deep d;
  d["a"].emplace_back(1);
  d["a"].emplace_back(std::optional<std::pair<int, std::string>>(std::pair(2, std::string("two"))));
  d["b"].emplace_back(std::unordered_map<int, std::set<std::string>>{{1, {"x", "y"}}});
  d["c"];
  EXPECT_EQ(round_trip(d), d);
}

TEST(PickleRoundTrip, UserTypes) {
  Person p{"Ada", 36, {"math", "engines"}, Point{1, 2, 3}};
  EXPECT_EQ(round_trip(p), p);
  EXPECT_EQ(round_trip(Account("bob", 1234)), Account("bob", 1234));
  EXPECT_EQ(round_trip(Celsius{21.5f}), Celsius{21.5f});
  EXPECT_EQ(round_trip(Versioned{9}), Versioned{9});
  EXPECT_EQ(round_trip(Minimal{"min"}), Minimal{"min"});
  std::vector<Person> people{p, Person{"Bo", 1, {}, std::nullopt}};
  EXPECT_EQ(round_trip(people), people);
  std::map<std::string, Account> accounts{{"x", Account("x", 1)}};
  EXPECT_EQ(round_trip(accounts), accounts);
  std::variant<int, Person> v = p;
  EXPECT_EQ(round_trip(v), v);
  Tree t{1, {Tree{2, {}}, Tree{3, {Tree{4, {}}}}}};
  EXPECT_EQ(round_trip(t), t);
}

TEST(PickleRoundTrip, UserTypeWritesWhatDumpsWrites) {
  // Inside a serialize, `ar(x)` writes exactly what dumps(x) writes.
  Person p{"Ada", 36, {"m"}, std::nullopt};
  auto whole = pickle::dumps(p);
  std::vector<std::byte> parts;
  pickle::dump_into(parts, p.name);
  pickle::dump_into(parts, p.age);
  pickle::dump_into(parts, p.tags);
  pickle::dump_into(parts, p.home);
  EXPECT_EQ(whole, parts);
}

TEST(PickleFastPath, TriviallyCopyableIsItsBytes) {
  Point p{1.5, -2.5, 7};
  auto bytes = pickle::dumps(p);
  ASSERT_EQ(bytes.size(), sizeof(Point));
  EXPECT_EQ(std::memcmp(bytes.data(), &p, sizeof p), 0);
  EXPECT_EQ(round_trip(p), p);
}

TEST(PickleFastPath, IntIsFourBytes) {
  EXPECT_EQ(pickle::dumps(12345).size(), 4u);
  EXPECT_EQ(pickle::dumps(std::int64_t{1}).size(), 8u);
  EXPECT_EQ(pickle::dumps(true).size(), 1u);
  int x = 0x01020304;
  auto bytes = pickle::dumps(x);
  EXPECT_EQ(std::memcmp(bytes.data(), &x, 4), 0);
}

TEST(PickleFastPath, VectorOfRawIsLengthAndBytes) {
  std::vector<Point> v{{1, 2, 3}, {4, 5, 6}};
  auto bytes = pickle::dumps(v);
  ASSERT_EQ(bytes.size(), 8 + 2 * sizeof(Point));
  std::uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(std::memcmp(bytes.data() + 8, v.data(), 2 * sizeof(Point)), 0);
}

TEST(PickleDumpInto, AppendsWithoutAllocatingOnceThereIsCapacity) {
  std::vector<std::byte> buffer;
  buffer.reserve(64);
  const std::byte* data = buffer.data();
  pickle::dump_into(buffer, 1);
  pickle::dump_into(buffer, 2);
  pickle::dump_into(buffer, std::string("ab"));
  EXPECT_EQ(buffer.data(), data);  // no reallocation
  EXPECT_EQ(buffer.size(), 4u + 4u + 8u + 2u);
  EXPECT_EQ(pickle::loads<int>(std::span(buffer).subspan(4, 4)), 2);
  EXPECT_EQ(pickle::loads<std::string>(std::span(buffer).subspan(8)), "ab");
}

namespace {
struct Fragile {  // a move that may throw: a failed emplace leaves a variant valueless
  int v = 0;
  Fragile() = default;
  explicit Fragile(int) { throw 1; }
  Fragile(Fragile&& o) noexcept(false) : v(o.v) {}
  Fragile& operator=(Fragile&&) = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(v);
  }
};
}  // namespace

TEST(PickleDumpInto, KeepsTheBufferOnError) {
  std::variant<std::string, Fragile> valueless("text");
  try {
    valueless.emplace<Fragile>(1);
  } catch (int) {
  }
  ASSERT_TRUE(valueless.valueless_by_exception());
  std::vector<std::byte> buffer = pickle::dumps(7);
  auto before = buffer;
  EXPECT_THROW(pickle::dump_into(buffer, std::make_tuple(std::string("abc"), std::move(valueless))),
               pyconc::ValueError);
  EXPECT_EQ(buffer, before);
}

TEST(PickleLoadFrom, ReusesTheTarget) {
  std::vector<int> target;
  target.reserve(100);
  const int* data = target.data();
  pickle::load_from(pickle::dumps(std::vector<int>{1, 2, 3}), target);
  EXPECT_EQ(target, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(target.data(), data);
  std::map<int, int> m{{9, 9}};
  pickle::load_from(pickle::dumps(std::map<int, int>{{1, 2}}), m);
  EXPECT_EQ(m, (std::map<int, int>{{1, 2}}));
}

// Picklable says what compiles.
struct NotTrivial {
  std::string s;
};
static_assert(pickle::Picklable<int>);
static_assert(pickle::Picklable<Point>);
static_assert(pickle::Picklable<Person>);
static_assert(pickle::Picklable<std::map<std::string, std::vector<Person>>>);
static_assert(pickle::Picklable<std::variant<std::monostate, Tree>>);
static_assert(pickle::Picklable<const std::string&>);
static_assert(!pickle::Picklable<NotTrivial>);
static_assert(!pickle::Picklable<int*>);
static_assert(!pickle::Picklable<int[3]>);
static_assert(!pickle::Picklable<void (*)()>);
static_assert(!pickle::Picklable<std::vector<const char*>>);
static_assert(!pickle::Picklable<std::tuple<int&>>);
static_assert(!pickle::Picklable<std::vector<NotTrivial>>);
// Views are trivially copyable but hold the sender's addresses.
static_assert(!pickle::Picklable<std::string_view>);
static_assert(!pickle::Picklable<std::span<const int>>);
static_assert(!pickle::Picklable<std::reference_wrapper<int>>);
static_assert(!pickle::Picklable<std::vector<std::string_view>>);
