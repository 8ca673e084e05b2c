// The machinery behind futures::wait and futures::as_completed: a listener that collects
// futures as they settle, the removal of repeated futures, and the conversion of any
// range of futures to a vector.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/timeout.hpp"
#include "pyconc/futures/future.hpp"
#include "pyconc/threading/lock.hpp"

namespace pyconc::futures {

enum class ReturnWhen;      // wait.hpp
template <class T>
struct DoneAndNotDone;      // wait.hpp

namespace detail {

/// return_when == ALL_COMPLETED, == FIRST_COMPLETED (wait.cpp).
bool waits_for_all(ReturnWhen return_when) noexcept;
bool waits_for_first(ReturnWhen return_when) noexcept;

/// Collects futures as they settle and wakes one waiting thread (the listener of
/// wait() and as_completed()).
class Collector final : public FutureListener {
 public:
  Collector(ReturnWhen mode, std::size_t pending) : mode_(mode), pending_(pending) {}
  void on_done(FutureCore& future) noexcept override;
  /// Waits until the mode's condition holds or `deadline`; false on timeout.
  bool wait(const pyconc::detail::Deadline& deadline);
  /// Takes the futures settled since the last call, in the order they settled.
  std::vector<FutureCore*> take();
  /// `n` of the futures were settled before the listener was installed.
  void discount(std::size_t n);

 private:
  const ReturnWhen mode_;  // ALL_COMPLETED doubles as "as_completed": wake on each
  threading::Lock lock_;
  std::vector<FutureCore*> settled_ PYCONC_GUARDED_BY(lock_);
  std::size_t pending_ PYCONC_GUARDED_BY(lock_);
  std::atomic<std::uint32_t> signal_{0};
  std::atomic<std::uint32_t> sleeping_{0};
};

/// Registers `collector` on every unsettled future; returns the settled ones.
std::vector<FutureCore*> install(Collector& collector, const std::vector<FutureCore*>& cores);
void uninstall(Collector& collector, const std::vector<FutureCore*>& cores);
bool failed(const FutureCore& core);

/// Which elements of `fs` are the first of their future (Python works on sets): empty
/// when there are no repeats, the usual case, found without allocating when the futures
/// come in creation order (as submitted from one thread); otherwise a sorted copy of the
/// pointers finds the repeats.
template <class T, class A>
std::vector<char> first_occurrences(const std::vector<Future<T>, A>& fs) {
  bool increasing = true;
  for (std::size_t i = 1; i < fs.size() && increasing; ++i)
    increasing = FutureAccess::core(fs[i - 1]).serial() < FutureAccess::core(fs[i]).serial();
  if (increasing) return {};
  std::vector<std::pair<const FutureCore*, std::size_t>> keys;
  keys.reserve(fs.size());
  for (std::size_t i = 0; i < fs.size(); ++i) keys.emplace_back(&FutureAccess::core(fs[i]), i);
  std::sort(keys.begin(), keys.end());
  std::vector<char> keep(fs.size(), 0);
  bool repeats = false;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i == 0 || keys[i].first != keys[i - 1].first) keep[keys[i].second] = 1;
    else repeats = true;
  }
  if (!repeats) keep.clear();
  return keep;
}

/// `fs` without repeats, in first-seen order.
template <class T, class A>
FutureList<T> unique_futures(const std::vector<Future<T>, A>& fs) {
  std::vector<char> keep = first_occurrences(fs);
  if (keep.empty()) return FutureList<T>(fs.begin(), fs.end());
  FutureList<T> out;
  out.reserve(fs.size());
  for (std::size_t i = 0; i < fs.size(); ++i)
    if (keep[i]) out.push_back(fs[i]);
  return out;
}

template <class T, class A>
DoneAndNotDone<T> wait_impl(const std::vector<Future<T>, A>& fs, const pyconc::detail::Deadline& deadline,
                            ReturnWhen return_when) {
  // Repeats are harmless while waiting (a future waited on twice); they are left out of
  // the collector's count and of the result.
  std::vector<char> keep = first_occurrences(fs);
  if (waits_for_all(return_when)) {
    // No listener needed: waiting on each in turn ends when all are settled, and wakes
    // (never polls) on completion. From the last: executors run work in submission
    // order, so the last future is usually the last to settle, and one wake-up covers
    // them all instead of one per future.
    for (auto it = fs.rbegin(); it != fs.rend(); ++it)
      if (!FutureAccess::core(*it).wait_settled(deadline)) break;
  } else {
    std::vector<FutureCore*> cores;
    cores.reserve(fs.size());
    for (std::size_t i = 0; i < fs.size(); ++i)
      if (keep.empty() || keep[i]) cores.push_back(&FutureAccess::core(fs[i]));
    Collector collector(return_when, cores.size());
    std::vector<FutureCore*> already = install(collector, cores);
    collector.discount(already.size());
    bool stop = waits_for_first(return_when)
                    ? !already.empty()
                    : std::any_of(already.begin(), already.end(), [](const FutureCore* c) { return failed(*c); });
    if (!stop && already.size() < cores.size()) collector.wait(deadline);
    uninstall(collector, cores);
  }
  // Done is what is settled now (what settled during the wait, and perhaps a few more).
  DoneAndNotDone<T> out;
  if (waits_for_all(return_when)) out.done.reserve(fs.size());
  for (std::size_t i = 0; i < fs.size(); ++i)
    if (keep.empty() || keep[i]) (FutureAccess::core(fs[i]).settled() ? out.done : out.not_done).push_back(fs[i]);
  return out;
}

// The T of a range element: a Future<T>, or a map entry keyed by one (iterating a
// Python dict yields its keys).
template <class F>
struct FutureType {};
template <class T>
struct FutureType<Future<T>> {
  using type = T;
};
template <class T, class V>
struct FutureType<std::pair<const Future<T>, V>> {
  using type = T;
};

template <class T>
const Future<T>& future_of(const Future<T>& f) {
  return f;
}
template <class T, class V>
const Future<T>& future_of(const std::pair<const Future<T>, V>& entry) {
  return entry.first;
}


template <class T, class A>
const std::vector<Future<T>, A>& as_future_vector(const std::vector<Future<T>, A>& fs) {
  return fs;
}

// `fs` as a std::vector of futures: itself if it is one (a FutureList too), else a copy.
template <class R>
decltype(auto) future_vector(R& fs) {
  if constexpr (requires { as_future_vector(fs); }) {
    return as_future_vector(fs);
  } else {
    FutureList<typename FutureType<std::remove_cvref_t<std::ranges::range_value_t<R>>>::type> out;
    if constexpr (std::ranges::sized_range<R>) out.reserve(std::ranges::size(fs));
    for (auto&& f : fs) out.push_back(future_of(f));
    return out;
  }
}

}  // namespace detail

}  // namespace pyconc::futures
