// Shared helpers of the workload programs: every program prints one JSON object per
// line, {"workload", "impl", "value", "unit", "n"}, as bench/WORKLOADS.md defines.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace bench {

inline void emit(std::string_view workload, std::string_view impl, double value, std::string_view unit, long long n) {
  std::printf("{\"workload\": \"%.*s\", \"impl\": \"%.*s\", \"value\": %.3f, \"unit\": \"%.*s\", \"n\": %lld}\n",
              static_cast<int>(workload.size()), workload.data(), static_cast<int>(impl.size()), impl.data(), value,
              static_cast<int>(unit.size()), unit.data(), n);
  std::fflush(stdout);
}

/// A wrong result makes the whole run fail: a benchmark that computes the wrong thing
/// (or was optimised away) must never produce a figure.
inline void check(bool ok, std::string_view what) {
  if (!ok) {
    std::fprintf(stderr, "benchmark self-check failed: %.*s\n", static_cast<int>(what.size()), what.data());
    std::exit(2);
  }
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// `N` for a workload: argv's "--n N" if given, else the default.
inline long long arg_n(int argc, char** argv, long long fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string_view(argv[i]) == "--n") return std::atoll(argv[i + 1]);
  return fallback;
}

}  // namespace bench
