// Shared helpers of the workload programs: every program prints one JSON object per
// line, {"workload", "impl", "value", "unit", "n"}, as bench/README.md describes.
// The drivers at the end run the same threads around every implementation of a
// workload, pyconc's (bench/workloads/) and the C++ peers' (bench/peers/) alike.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <pyconc/threading.hpp>
#include <string>
#include <string_view>
#include <thread>

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

/// The ints 0 .. n-1 as a sized input range, computed as it is read (Python's range(n)).
/// Our own rather than std::views::iota, which clang 14 cannot compile with libstdc++ 12.
struct Ints {
  struct iterator {
    using iterator_category = std::input_iterator_tag;
    using value_type = long;
    using difference_type = std::ptrdiff_t;
    long v = 0;
    long operator*() const noexcept { return v; }
    iterator& operator++() noexcept {
      ++v;
      return *this;
    }
    iterator operator++(int) noexcept { return {v++}; }
    bool operator==(const iterator&) const = default;
  };
  long n = 0;
  iterator begin() const noexcept { return {0}; }
  iterator end() const noexcept { return {n}; }
  std::size_t size() const noexcept { return static_cast<std::size_t>(n); }
};

/// Two threads each call `body()` N times; both wait on one Event so they start
/// together. Returns the seconds from the start signal until both are joined.
template <class Body>
double two_threads(long long n, Body body) {
  pyconc::threading::Event go;
  auto work = [&] {
    go.wait();
    for (long long i = 0; i < n; ++i) body();
  };
  std::thread a(work), b(work);
  auto t0 = std::chrono::steady_clock::now();
  go.set();
  a.join();
  b.join();
  return seconds_since(t0);
}

/// lock_2threads for one implementation: two threads each call `locked_increment(c)`
/// N times on one shared counter `c`; checks that it reached 2N and prints the line.
template <class LockedIncrement>
void lock_2threads(std::string_view impl, long long n, LockedIncrement locked_increment) {
  long long counter = 0;
  double d = two_threads(n, [&] { locked_increment(counter); });
  check(counter == 2 * n, "counter == 2N");
  emit("lock_2threads", impl, 2 * n / d, "acquisitions/s", 2 * n);
}

/// One producer thread calls `put(i)` for i = 0 .. N-1, then `put(-1)`; one consumer
/// thread calls `get()` until it returns -1. Checks that the consumer got every item
/// once and returns the seconds from the start of both threads until both are joined.
template <class Put, class Get>
double producer_consumer(long long n, Put put, Get get) {
  long long sum = 0;
  auto t0 = std::chrono::steady_clock::now();
  // Each thread keeps its count and its sum in its own locals (captured by value, and
  // the sum written back once): `n` and `sum` share a cache line on this stack, and a
  // consumer adding to `sum` in place while the producer reads `n` on every turn moved
  // that line between the cores once per item, for every implementation.
  std::thread producer([n, &put] {
    for (long long i = 0; i < n; ++i) put(static_cast<long>(i));
    put(-1);
  });
  std::thread consumer([&sum, &get] {
    long long local = 0;
    for (long v; (v = get()) != -1;) local += v;
    sum = local;
  });
  producer.join();
  consumer.join();
  double d = seconds_since(t0);
  check(sum == n * (n - 1) / 2, "consumer got every item once");
  return d;
}

}  // namespace bench
