// concurrent.futures.wait and concurrent.futures.as_completed.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pyconc/futures/future.hpp"

namespace pyconc::futures {

/// wait()'s return_when (Python's module constants).
enum class ReturnWhen { FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED };
inline constexpr ReturnWhen FIRST_COMPLETED = ReturnWhen::FIRST_COMPLETED;
inline constexpr ReturnWhen FIRST_EXCEPTION = ReturnWhen::FIRST_EXCEPTION;
inline constexpr ReturnWhen ALL_COMPLETED = ReturnWhen::ALL_COMPLETED;

/// wait()'s result (Python's DoneAndNotDoneFutures named tuple of sets); each list keeps
/// the input order, without duplicates.
template <class T>
struct DoneAndNotDone {
  FutureList<T> done;
  FutureList<T> not_done;
};

namespace detail {

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
  if (return_when == ALL_COMPLETED) {
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
    bool stop = return_when == FIRST_COMPLETED
                    ? !already.empty()
                    : std::any_of(already.begin(), already.end(), [](const FutureCore* c) { return failed(*c); });
    if (!stop && already.size() < cores.size()) collector.wait(deadline);
    uninstall(collector, cores);
  }
  // Done is what is settled now (what settled during the wait, and perhaps a few more).
  DoneAndNotDone<T> out;
  if (return_when == ALL_COMPLETED) out.done.reserve(fs.size());
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

}  // namespace detail

/// What wait() and as_completed() take: a range of futures of one type, as Python takes
/// any iterable of futures. A std::vector or FutureList of them (used as is), a
/// std::unordered_set or std::list of them, or a map whose keys are futures, standing
/// for its keys as a Python dict does: `as_completed(future_to_url)` (copied into a
/// FutureList first).
template <class R>
concept FutureRange = std::ranges::input_range<R> &&
                      requires { typename detail::FutureType<std::remove_cvref_t<std::ranges::range_value_t<R>>>::type; };

/// The T of a FutureRange's Future<T>.
template <FutureRange R>
using future_range_t = typename detail::FutureType<std::remove_cvref_t<std::ranges::range_value_t<R>>>::type;

namespace detail {

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
    FutureList<future_range_t<R>> out;
    if constexpr (std::ranges::sized_range<R>) out.reserve(std::ranges::size(fs));
    for (auto&& f : fs) out.push_back(future_of(f));
    return out;
  }
}

}  // namespace detail

/// Waits until all futures are done (or the first completes, or the first fails), or
/// `timeout`; returns which are done (Python's concurrent.futures.wait). A future counts
/// as done when finished, or cancelled and its executor has noticed.
template <FutureRange R>
DoneAndNotDone<future_range_t<R>> wait(R&& fs, ReturnWhen return_when = ALL_COMPLETED) {
  return detail::wait_impl(detail::future_vector(fs), pyconc::detail::Deadline::never(), return_when);
}
template <FutureRange R>
DoneAndNotDone<future_range_t<R>> wait(R&& fs, Seconds timeout, ReturnWhen return_when = ALL_COMPLETED) {
  return detail::wait_impl(detail::future_vector(fs), pyconc::detail::optional_deadline(timeout), return_when);
}

/// The futures of `fs` in the order they complete (Python's as_completed): a range that
/// yields the already-done ones first, then each as it settles, and raises TimeoutError
/// ("N (of M) futures unfinished") when `timeout` (from the call) passes first. Wakes on
/// completion; never polls. Duplicates are yielded once.
template <class T>
class AsCompleted {
 public:
  template <class A>
  AsCompleted(const std::vector<Future<T>, A>& fs, std::optional<pyconc::detail::Deadline> deadline)
      : futures_(detail::unique_futures(fs)), deadline_(deadline) {
    for (auto& f : futures_) {
      cores_.push_back(&detail::FutureAccess::core(f));
      by_core_.emplace(cores_.back(), f);
    }
    collector_ = std::make_unique<detail::Collector>(ALL_COMPLETED, futures_.size());
    ready_ = detail::install(*collector_, cores_);
    collector_->discount(ready_.size());
  }
  AsCompleted(AsCompleted&&) noexcept = default;
  AsCompleted& operator=(AsCompleted&&) = delete;
  ~AsCompleted() {
    if (collector_) detail::uninstall(*collector_, cores_);
  }

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Future<T>;
    using difference_type = std::ptrdiff_t;
    explicit iterator(AsCompleted* owner) : owner_(owner) { owner_->fill(); }
    Future<T> operator*() const { return owner_->by_core_.at(owner_->ready_[owner_->next_]); }
    iterator& operator++() {
      ++owner_->next_;
      ++owner_->yielded_;
      owner_->fill();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return owner_->yielded_ >= owner_->futures_.size(); }

   private:
    AsCompleted* owner_;
  };
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return {}; }

 private:
  // Makes sure ready_[next_] exists unless everything was yielded; may wait.
  void fill() {
    while (yielded_ < futures_.size() && next_ >= ready_.size()) {
      ready_.clear();
      next_ = 0;
      ready_ = collector_->take();
      if (!ready_.empty()) break;
      if (!collector_->wait(deadline_ ? *deadline_ : pyconc::detail::Deadline::never())) {
        ready_ = collector_->take();
        if (!ready_.empty()) break;
        std::size_t left = futures_.size() - yielded_;
        throw TimeoutError(std::to_string(left) + " (of " + std::to_string(futures_.size()) +
                           ") futures unfinished");
      }
    }
  }

  FutureList<T> futures_;
  std::vector<detail::FutureCore*> cores_;
  std::unordered_map<detail::FutureCore*, Future<T>> by_core_;
  std::unique_ptr<detail::Collector> collector_;
  std::vector<detail::FutureCore*> ready_;
  std::size_t next_ = 0;
  std::size_t yielded_ = 0;
  std::optional<pyconc::detail::Deadline> deadline_;
};

template <FutureRange R>
AsCompleted<future_range_t<R>> as_completed(R&& fs) {
  return AsCompleted<future_range_t<R>>(detail::future_vector(fs), std::nullopt);
}
template <FutureRange R>
AsCompleted<future_range_t<R>> as_completed(R&& fs, Seconds timeout) {
  return AsCompleted<future_range_t<R>>(detail::future_vector(fs), pyconc::detail::optional_deadline(timeout));
}

}  // namespace pyconc::futures
