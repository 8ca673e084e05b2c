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
#include "pyconc/futures/detail/task_memory.hpp"
#include "pyconc/futures/future.hpp"
#include "pyconc/threading/timeout.hpp"

namespace pyconc::futures {

namespace detail {

/// A unit of work queued in an executor: runs its call and completes its future.
class WorkItem {
 public:
  /// Runs the call unless the future was cancelled (then notifies the cancellation).
  virtual void run() noexcept = 0;
  /// Completes a still-pending future with `error` (a broken pool).
  virtual void fail(std::exception_ptr error) noexcept = 0;
  /// Cancels a pending future and notifies waiters (shutdown(cancel_futures=true)).
  virtual void cancel_and_notify() noexcept = 0;
  /// Drops the executor's reference (the item may be destroyed).
  virtual void drop() noexcept = 0;

 protected:
  ~WorkItem() = default;
};

/// An executor's reference to a work item (what its queue holds): move-only, 8 bytes,
/// drops the reference when destroyed.
class WorkRef {
 public:
  WorkRef() noexcept = default;
  /// Takes over one reference to `item`.
  explicit WorkRef(WorkItem* item) noexcept : item_(item) {}
  WorkRef(WorkRef&& other) noexcept : item_(std::exchange(other.item_, nullptr)) {}
  WorkRef& operator=(WorkRef&& other) noexcept {
    if (this != &other) {
      reset();
      item_ = std::exchange(other.item_, nullptr);
    }
    return *this;
  }
  ~WorkRef() { reset(); }
  void reset() noexcept {
    if (item_) std::exchange(item_, nullptr)->drop();
  }
  WorkItem* operator->() const noexcept { return item_; }
  explicit operator bool() const noexcept { return item_ != nullptr; }

 private:
  WorkItem* item_ = nullptr;
};

/// A submitted call and its future's state, in one block of the small-object pool. It
/// starts with two references: the Future's and the executor queue's.
template <class R, class Call>
class Task final : public FutureState<R>, public WorkItem {
 public:
  explicit Task(Call call) : FutureState<R>(2), call_(std::move(call)) {}
  void drop() noexcept override { this->release(); }
  void run() noexcept override {
    if (!this->set_running_or_notify_cancel()) {
      call_.reset();
      return;
    }
    try {
      if constexpr (std::is_void_v<R>) {
        (*call_)();
        call_.reset();  // as Python drops fn and args once run
        this->set_result();
      } else {
        R value = (*call_)();
        call_.reset();
        this->set_result(std::move(value));
      }
    } catch (...) {
      call_.reset();
      this->set_exception(std::current_exception());
    }
  }
  void fail(std::exception_ptr error) noexcept override {
    call_.reset();
    try {
      if (!this->done()) this->set_exception(std::move(error));
    } catch (const InvalidStateError&) {  // cancelled meanwhile
    }
    // A future cancelled while queued is never run: notify the cancellation here, or
    // wait() and as_completed() would never see it settle.
    try {
      if (this->state() == FutureCore::kCancelled) this->set_running_or_notify_cancel();
    } catch (...) {  // notified meanwhile
    }
  }
  void cancel_and_notify() noexcept override {
    call_.reset();
    if (this->cancel()) {
      try {
        this->set_running_or_notify_cancel();
      } catch (...) {
      }
    }
  }

 private:
  void destroy() noexcept override { destroy_pooled(this); }

  std::optional<Call> call_;
};

template <class F, class... Args>
using call_result_t = std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>>;

}  // namespace detail

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
    if (options.timeout) deadline = pyconc::detail::optional_deadline(*options.timeout);
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
