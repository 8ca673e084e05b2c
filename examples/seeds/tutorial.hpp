// What the tutorial programs take from Python beyond concurrency, spelled so that a port
// reads like its Python: time.sleep and time.perf_counter, random.randint and
// random.random, and repr() of a list of tuples or of strings. Plus the --quick flag:
// the programs that sleep for seconds or never end run short with it (ctest and
// `make demo` pass it).
//
//     using namespace seeds;                  // time::, random::, repr()
//     seeds::read_quick_flag(argc, argv);     // --quick: every time::sleep() is 100x shorter
//     time::sleep(random::random());          // time.sleep(random.random())
//
// (A qualified name such as time::sleep looks up only namespaces before the `::`, so the
// C library's time() and random() functions do not get in the way.)
#pragma once

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace seeds {

/// True when the program was started with --quick (set by read_quick_flag()).
inline bool quick = false;

inline void read_quick_flag(int argc, char** argv) {
  quick = argc > 1 && std::string_view(argv[1]) == "--quick";
}

namespace time {

/// time.sleep(seconds): a hundredth of it under --quick.
inline void sleep(double seconds) {
  std::this_thread::sleep_for(std::chrono::duration<double>(quick ? seconds / 100 : seconds));
}

/// time.perf_counter(): seconds on a monotonic clock.
inline double perf_counter() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace time

namespace random {

// One generator per thread, seeded from the system (Python's module-level generator is
// shared and thread-safe; per-thread generators need no lock).
inline std::mt19937_64& generator() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return engine;
}

/// random.randint(a, b): an integer in [a, b].
inline int randint(int a, int b) { return std::uniform_int_distribution<int>(a, b)(generator()); }

/// random.random(): a float in [0, 1).
inline double random() { return std::uniform_real_distribution<double>(0.0, 1.0)(generator()); }

}  // namespace random

/// repr() of a list of pairs of integers: "[(1, 1), (2, 4)]".
template <class A, class B>
std::string repr(const std::vector<std::pair<A, B>>& items) {
  std::string out = "[";
  for (const auto& [a, b] : items)
    out += (out.size() > 1 ? ", (" : "(") + std::to_string(a) + ", " + std::to_string(b) + ")";
  return out + "]";
}

/// repr() of a list of strings (without quotes or backslashes in them): "['a', 'b']".
inline std::string repr(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const std::string& s : items) out += (out.size() > 1 ? ", '" : "'") + s + "'";
  return out + "]";
}

}  // namespace seeds
