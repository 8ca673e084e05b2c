// concurrent.futures.Executor: the abstract base of thread, process and MPI pools.
#pragma once

#include <concepts>
#include <cstddef>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "pyconc/detail/unique_function.hpp"
#include "pyconc/errors.hpp"
#include "pyconc/futures/detail/work_item.hpp"
#include "pyconc/futures/future.hpp"
#include "pyconc/threading/timeout.hpp"

namespace pyconc::futures {

/// Executor::map's keyword options.
struct MapOptions {
  /// A deadline for the whole iteration, from the call of map(); TimeoutError when an
  /// element is not ready by then. Default: wait as long as needed.
  std::optional<Seconds> timeout;
  /// Elements per task for process-based executors (ignored by ThreadPoolExecutor, as
  /// in Python); must be >= 1.
  int chunksize = 1;
};

/// The results of Executor::map, in input order: a range consumed once, lazily; each
/// element waits for its task, and a failing task rethrows at its position. Destroying
/// it after iteration began cancels the tasks not yet consumed (as Python's generator
/// does when closed); dropped unstarted, it leaves every task to run, as Python's.
template <class R>
class MapResults {
 public:
  using value_type = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

  MapResults(FutureList<R> futures, std::optional<pyconc::detail::Deadline> deadline)
      : futures_(std::move(futures)), deadline_(deadline) {}
  MapResults(MapResults&&) noexcept = default;
  MapResults& operator=(MapResults&&) = delete;
  ~MapResults() {
    if (!started_) return;
    for (std::size_t i = next_; i < futures_.size(); ++i) futures_[i].cancel();
  }

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = MapResults::value_type;
    using difference_type = std::ptrdiff_t;
    explicit iterator(MapResults* owner) : owner_(owner) {}
    value_type operator*() const { return owner_->take(); }
    iterator& operator++() {
      ++owner_->next_;
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return owner_->next_ >= owner_->futures_.size(); }

   private:
    MapResults* owner_;
  };

  iterator begin() {
    started_ = true;
    return iterator(this);
  }
  std::default_sentinel_t end() { return {}; }
  /// Every remaining result, in order.
  std::vector<value_type> to_vector() {
    std::vector<value_type> out;
    out.reserve(futures_.size() - next_);
    for (auto it = begin(); it != end(); ++it) out.push_back(*it);
    return out;
  }
  std::size_t size() const noexcept { return futures_.size(); }

 private:
  value_type take() {
    Future<R>& f = futures_[next_];
    try {
      auto& core = detail::FutureAccess::core(f);
      core.wait_for_value(deadline_ ? *deadline_ : pyconc::detail::Deadline::never());
    } catch (...) {
      f.cancel();  // Python's _result_or_cancel
      throw;
    }
    if constexpr (std::is_void_v<R>) return std::monostate{};
    else return detail::FutureAccess::state(f).take_value();
  }

  FutureList<R> futures_;
  std::size_t next_ = 0;
  bool started_ = false;
  std::optional<pyconc::detail::Deadline> deadline_;
};

/// The abstract base of executors (Python's concurrent.futures.Executor): submit() a
/// call and get a Future; map() a function over ranges; shutdown() when done.
///
///     futures::ThreadPoolExecutor ex(4);
///     futures::Future<int> f = ex.submit(pow, 2, 10);
///     for (int r : ex.map(square, std::vector{1, 2, 3})) ...
///
/// A subclass implements schedule() (queue the WorkRef; a worker calls its run(), then
/// drops it) and shutdown().
///
/// Thread safety: every member may be called from any thread.
///
/// Memory ordering: everything before submit() is visible to the call; everything the
/// call did is visible to whoever sees its future done.
///
/// Differences from Python: map() takes ranges (zipped, shortest first) and its options
/// as `map(fn, {.timeout = 5s}, range)`; its results are a lazy range (MapResults) rather
/// than a generator. The `with` block is the executor's lifetime: its destructor calls
/// shutdown(wait = true).
class Executor {
 public:
  Executor() = default;
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  virtual ~Executor() = default;

  /// Schedules fn(args...) and returns its Future. The callable and arguments are
  /// decay-copied (std::ref to share). RuntimeError after shutdown().
  template <class F, class... Args>
    requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
  Future<detail::call_result_t<F, Args...>> submit(F&& fn, Args&&... args) {
    using R = detail::call_result_t<F, Args...>;
    auto call = pyconc::detail::bind_once(std::forward<F>(fn), std::forward<Args>(args)...);
    auto* task = detail::make_pooled<detail::Task<R, decltype(call)>>(std::move(call));
    Future<R> future = detail::FutureAccess::adopt<R>(task);  // one reference each, no atomic
    schedule(detail::WorkRef(task));                          // operation: a throw drops both
    return future;
  }

  /// Python's map(fn, *iterables): submits fn(x, y, ...) for the zipped elements now,
  /// and returns their results in order.
  template <class F, class... Ranges>
    requires(sizeof...(Ranges) > 0)
  auto map(F fn, Ranges&&... ranges) {
    return map(std::move(fn), MapOptions{}, std::forward<Ranges>(ranges)...);
  }
  template <class F, class... Ranges>
    requires(sizeof...(Ranges) > 0)
  auto map(F fn, MapOptions options, Ranges&&... ranges) {
    using R = detail::call_result_t<F&, std::ranges::range_reference_t<Ranges>...>;
    if (options.chunksize < 1) throw ValueError("chunksize must be >= 1.");
    std::optional<pyconc::detail::Deadline> deadline;
    if (options.timeout)
      deadline = pyconc::detail::deadline_for(pyconc::detail::TimeoutRule::threading_wait, *options.timeout);
    FutureList<R> futures;
    auto its = std::make_tuple(std::ranges::begin(ranges)...);
    auto ends = std::make_tuple(std::ranges::end(ranges)...);
    for (;;) {
      bool more = std::apply([&](auto&... it) {
        return std::apply([&](auto&... end) { return ((it != end) && ...); }, ends);
      }, its);
      if (!more) break;
      futures.push_back(std::apply([&](auto&... it) { return submit(fn, *it...); }, its));
      std::apply([](auto&... it) { (++it, ...); }, its);
    }
    return MapResults<R>(std::move(futures), deadline);
  }

  /// Stops accepting work; wait=true blocks until queued work has run and the workers
  /// exited; cancel_futures=true cancels work not yet started. Idempotent.
  virtual void shutdown(bool wait = true, bool cancel_futures = false) = 0;

 protected:
  /// Queues the work item; throws if the executor cannot accept work.
  virtual void schedule(detail::WorkRef item) = 0;
};

}  // namespace pyconc::futures
