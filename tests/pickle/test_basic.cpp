// pyconc::pickle: round trips of the types that docs/conventions.md, "Serialisation"
// lists, and clear errors.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "pyconc/pickle.hpp"

namespace pickle = pyconc::pickle;

TEST(Pickle, RoundTripsCommonTypes) {
  std::map<std::string, std::vector<int>> m{{"a", {1, 2}}, {"b", {}}};
  EXPECT_EQ(pickle::loads<decltype(m)>(pickle::dumps(m)), m);
  std::tuple<int, std::string, std::optional<double>> t{1, "x", 2.5};
  EXPECT_EQ(pickle::loads<decltype(t)>(pickle::dumps(t)), t);
  std::variant<int, std::string> v = std::string("hi");
  EXPECT_EQ(pickle::loads<decltype(v)>(pickle::dumps(v)), v);
}

TEST(Pickle, TruncatedInputIsValueError) {
  auto bytes = pickle::dumps(std::string("hello world"));
  bytes.resize(bytes.size() - 3);
  EXPECT_THROW(pickle::loads<std::string>(bytes), pyconc::ValueError);
}
