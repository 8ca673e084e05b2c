// libFuzzer target: pyconc::pickle::loads<T> over arbitrary bytes, for a set of types
// covering every decoder path, and raise_exception over the same bytes. loads may only
// ever throw ValueError; whatever parses must pickle back to the same bytes (for types
// with one encoding per value); raise_exception must always throw, and only what a
// pickled exception can rebuild. Crashes, leaks, UB, hangs and big allocations
// (-malloc_limit_mb) are reported by the sanitizers and libFuzzer.
//
//   fuzz_pickle_loads -max_total_time=30 -max_len=4096 -malloc_limit_mb=16 CORPUS SEEDS
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <array>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

#include "pyconc/pickle.hpp"

namespace pickle = pyconc::pickle;

namespace {

enum class Colour : std::uint8_t { red, green };

struct Pod {  // no padding: its bytes are all value
  std::int32_t a;
  std::int32_t b;
  double c;
};

struct Person {
  std::string name;
  std::optional<std::vector<std::int16_t>> scores;
  std::variant<std::monostate, bool, Colour> flag;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, scores, flag);
  }
};

struct Tree {
  std::int8_t value = 0;
  std::vector<Tree> kids;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(value, kids);
  }
};

// Types with exactly one encoding per value: what loads accepts, dumps writes back.
template <class T>
void canonical(std::span<const std::byte> data) {
  T value;
  try {
    value = pickle::loads<T>(data);
  } catch (const pyconc::ValueError&) {
    return;
  }
  auto again = pickle::dumps(value);
  if (again.size() != data.size() || !std::equal(again.begin(), again.end(), data.begin())) {
    std::fprintf(stderr, "round trip changed the bytes\n");
    std::abort();
  }
}

// Types whose decoding may normalise (ordering of keys): must load or raise ValueError.
template <class T>
void loads_only(std::span<const std::byte> data) {
  try {
    T value = pickle::loads<T>(data);
    (void)pickle::dumps(value);
  } catch (const pyconc::ValueError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* raw, std::size_t size) {
  std::span<const std::byte> data(reinterpret_cast<const std::byte*>(raw), size);
  canonical<int>(data);
  canonical<bool>(data);
  canonical<std::string>(data);
  canonical<std::vector<std::string>>(data);
  canonical<std::vector<bool>>(data);
  canonical<std::deque<std::vector<std::uint16_t>>>(data);
  canonical<std::list<std::optional<std::string>>>(data);
  canonical<std::vector<std::variant<std::monostate, std::int32_t, std::string, std::vector<double>>>>(data);
  canonical<std::tuple<std::uint8_t, std::pair<bool, std::string>, std::array<std::int16_t, 3>>>(data);
  canonical<std::vector<std::monostate>>(data);
  canonical<std::vector<std::tuple<>>>(data);
  canonical<std::optional<std::variant<Pod, std::array<bool, 2>>>>(data);
  canonical<std::vector<Person>>(data);
  canonical<Tree>(data);
  loads_only<std::map<std::string, std::vector<std::int32_t>>>(data);
  loads_only<std::set<std::monostate>>(data);
  loads_only<std::multimap<std::uint8_t, std::optional<Person>>>(data);
  loads_only<std::unordered_map<std::int32_t, std::set<std::string>>>(data);
  loads_only<std::map<std::string, std::variant<int, std::map<int, std::string>>>>(data);
  try {
    pickle::raise_exception(data);
  } catch (...) {
    // Any type is fine here (valid input rebuilds whatever it names); reaching this
    // handler, and not a crash, is the point.
  }
  return 0;
}
