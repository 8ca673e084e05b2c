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

#include "pyconc/futures/detail/wait_machinery.hpp"
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

/// Waits until all futures are done (or the first completes, or the first fails), or
/// `timeout`; returns which are done (Python's concurrent.futures.wait). A future counts
/// as done when finished, or cancelled and its executor has noticed.
template <FutureRange R>
DoneAndNotDone<future_range_t<R>> wait(R&& fs, ReturnWhen return_when = ALL_COMPLETED) {
  return detail::wait_impl(detail::future_vector(fs), pyconc::detail::Deadline::never(), return_when);
}
template <FutureRange R>
DoneAndNotDone<future_range_t<R>> wait(R&& fs, Seconds timeout, ReturnWhen return_when = ALL_COMPLETED) {
  auto deadline = pyconc::detail::deadline_for(pyconc::detail::TimeoutRule::threading_wait, timeout);
  return detail::wait_impl(detail::future_vector(fs), deadline, return_when);
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
  /// How many futures it yields in all (repeats counted once), whether yielded yet or
  /// not: the total of a progress bar (futures::progress).
  std::size_t size() const noexcept { return futures_.size(); }

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
  auto deadline = pyconc::detail::deadline_for(pyconc::detail::TimeoutRule::threading_wait, timeout);
  return AsCompleted<future_range_t<R>>(detail::future_vector(fs), deadline);
}

}  // namespace pyconc::futures
