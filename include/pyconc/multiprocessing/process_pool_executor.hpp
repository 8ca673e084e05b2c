// concurrent.futures.ProcessPoolExecutor. It lives with multiprocessing (it runs on its
// processes, as Python's does) but in namespace pyconc::futures, under Python's name.
#pragma once

#include <concepts>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "pyconc/errors.hpp"
#include "pyconc/futures/executor.hpp"
#include "pyconc/futures/future.hpp"
#include "pyconc/multiprocessing/context.hpp"
#include "pyconc/multiprocessing/detail/pool_chunks.hpp"
#include "pyconc/multiprocessing/detail/pool_engine.hpp"
#include "pyconc/multiprocessing/initializer.hpp"

namespace pyconc::futures {

/// ProcessPoolExecutor's keyword options (Python: mp_context, initializer, initargs,
/// max_tasks_per_child).
struct ProcessPoolOptions {
  /// The workers' start method; default multiprocessing::get_context(), or "spawn" when
  /// max_tasks_per_child is given (as Python).
  std::optional<multiprocessing::Context> mp_context;
  /// Run once by every worker when it starts, with `initargs` (transferable).
  multiprocessing::Initializer initializer;
  multiprocessing::InitArgs initargs;
  /// Tasks a worker runs before it is replaced. ValueError when < 1, and with the
  /// "fork" start method (as CPython).
  std::optional<long long> max_tasks_per_child;
};

/// The results of ProcessPoolExecutor::map: as Executor::map's (a lazy range in input
/// order; a failure rethrows at its position; the timeout counts from the call;
/// destroying it after iteration began cancels the chunks not yet consumed), with the
/// elements sent to the workers in chunks of `chunksize`.
template <class R>
class ProcessMapResults {
 public:
  using value_type = multiprocessing::detail::chunk_value_t<R>;

  ProcessMapResults(std::vector<Future<std::vector<value_type>>> chunks, std::size_t items, int chunksize,
                    std::optional<pyconc::detail::Deadline> deadline)
      : chunks_(std::move(chunks)), items_(items), chunksize_(static_cast<std::size_t>(chunksize)), deadline_(deadline) {}
  ProcessMapResults(ProcessMapResults&&) noexcept = default;
  ProcessMapResults& operator=(ProcessMapResults&&) = delete;
  ~ProcessMapResults() {
    if (!started_) return;
    for (std::size_t i = consumed_ / chunksize_; i < chunks_.size(); ++i) chunks_[i].cancel();
  }

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = ProcessMapResults::value_type;
    using difference_type = std::ptrdiff_t;
    explicit iterator(ProcessMapResults* owner) : owner_(owner) {}
    value_type operator*() const { return owner_->take(); }
    iterator& operator++() {
      ++owner_->consumed_;
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return owner_->consumed_ >= owner_->items_; }

   private:
    ProcessMapResults* owner_;
  };

  iterator begin() {
    started_ = true;
    return iterator(this);
  }
  std::default_sentinel_t end() { return {}; }
  std::vector<value_type> to_vector() {
    std::vector<value_type> out;
    out.reserve(items_ - consumed_);
    for (auto it = begin(); it != end(); ++it) out.push_back(*it);
    return out;
  }
  std::size_t size() const noexcept { return items_; }

 private:
  // The element at position consumed_: chunk consumed_ / chunksize_. A failed chunk
  // rethrows at each of its positions (with chunksize 1: at exactly its element).
  value_type take() {
    std::size_t index = consumed_ / chunksize_;
    if (!have_ || index != chunk_) {
      chunk_ = index;
      have_ = false;
      failure_ = nullptr;
      Future<std::vector<value_type>>& f = chunks_[index];
      try {
        detail::FutureAccess::core(f).wait_for_value(deadline_ ? *deadline_ : pyconc::detail::Deadline::never());
        current_ = detail::FutureAccess::state(f).take_value();
      } catch (const TimeoutError&) {
        f.cancel();
        throw;
      } catch (...) {
        failure_ = std::current_exception();
      }
      have_ = true;
    }
    if (failure_) std::rethrow_exception(failure_);
    return std::move(current_[consumed_ % chunksize_]);
  }

  std::vector<Future<std::vector<value_type>>> chunks_;
  std::size_t items_;
  std::size_t chunksize_;
  std::optional<pyconc::detail::Deadline> deadline_;
  std::vector<value_type> current_;
  std::exception_ptr failure_;
  std::size_t chunk_ = 0, consumed_ = 0;
  bool have_ = false, started_ = false;
};

/// An Executor whose workers are processes (Python's
/// concurrent.futures.ProcessPoolExecutor).
///
///     int square(int x) { return x * x; }
///     futures::ProcessPoolExecutor ex(2);            // with ProcessPoolExecutor(2) as ex:
///     futures::Future<int> f = ex.submit(square, 7);  //   f = ex.submit(square, 7)
///     for (int r : ex.map(square, std::vector{1, 2, 3}, {.chunksize = 2})) ...
///
/// Functions must be transferable and arguments and results picklable (docs/conventions.md,
/// "Callables across processes"). Exceptions come back with their types. A task whose
/// arguments cannot be pickled fails alone.
///
/// Worker death keeps Python's contract: when a worker dies (killed, crashed, exit()),
/// the pool is broken — every pending and running future, and every later submit(),
/// raises BrokenProcessPool, whose message names the pid and the exit code or signal. An
/// initializer that throws breaks the pool the same way. (multiprocessing::Pool fails
/// only the lost task and goes on.)
///
/// Errors (Python's): max_workers < 1, max_tasks_per_child < 1, or max_tasks_per_child
/// with the "fork" start method raise ValueError; submit() after shutdown() raises
/// RuntimeError, on a broken pool BrokenProcessPool.
///
/// Lifetime: the destructor calls shutdown(wait=true). Workers start with the first
/// submit(), as Python's do.
///
/// Thread safety: every member may be called from any thread.
///
/// Memory ordering: arguments are copied at submit(); a result is visible to whoever
/// sees its future done.
///
/// Differences from Python: calling submit() through an Executor& cannot send a C++
/// closure to another process: it raises RuntimeError (call it on the
/// ProcessPoolExecutor). map() takes its options first, as Executor::map. Tasks are
/// sent ahead to the workers (as Pool's are) yet stay cancellable until a worker claims
/// one: cancel() withdraws it; running() turns true only with its result (Python marks
/// its few queued calls running, and they can no longer be cancelled).
class ProcessPoolExecutor : public Executor {
 public:
  /// Default max_workers: cpu_count().
  explicit ProcessPoolExecutor(std::optional<int> max_workers = std::nullopt, ProcessPoolOptions options = {});
  ~ProcessPoolExecutor() override;

  template <class F, class... Args>
    requires std::invocable<multiprocessing::detail::stored_callable_t<F>&, std::decay_t<Args>...>
  auto submit(F&& fn, Args&&... args) {
    using Fn = multiprocessing::detail::stored_callable_t<F>;
    using R = std::invoke_result_t<Fn&, std::decay_t<Args>...>;
    multiprocessing::detail::check_transferable<Fn, std::decay_t<Args>...>();
    check_open();
    multiprocessing::detail::PoolTask* task = nullptr;
    Future<R> future = multiprocessing::detail::make_task<R>(task);
    try {
      multiprocessing::detail::encode_call(*task, Fn(std::forward<F>(fn)),
                                           std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...));
    } catch (...) {
      task->fail(std::current_exception());
      task->release_task();
      return future;
    }
    engine_->submit(task);
    return future;
  }

  template <class F, class... Ranges>
    requires(sizeof...(Ranges) > 0)
  auto map(F&& fn, Ranges&&... ranges) {
    return map(std::forward<F>(fn), MapOptions{}, std::forward<Ranges>(ranges)...);
  }
  template <class F, class... Ranges>
    requires(sizeof...(Ranges) > 0)
  auto map(F&& fn, MapOptions options, Ranges&&... ranges) {
    using Fn = multiprocessing::detail::stored_callable_t<F>;
    constexpr bool star = sizeof...(Ranges) > 1;
    using Item = typename multiprocessing::detail::zipped_item<Ranges...>::type;
    using R = std::invoke_result_t<Fn&, std::remove_cvref_t<std::ranges::range_value_t<Ranges>>...>;
    multiprocessing::detail::check_transferable<Fn, Item>();
    if (options.chunksize < 1) throw ValueError("chunksize must be >= 1.");
    check_open();
    std::optional<pyconc::detail::Deadline> deadline;
    if (options.timeout)
      deadline = pyconc::detail::deadline_for(pyconc::detail::TimeoutRule::threading_wait, *options.timeout);
    std::vector<Item> items;
    auto its = std::make_tuple(std::ranges::begin(ranges)...);
    auto ends = std::make_tuple(std::ranges::end(ranges)...);
    for (;;) {
      bool more = std::apply(
          [&](auto&... it) { return std::apply([&](auto&... end) { return ((it != end) && ...); }, ends); }, its);
      if (!more) break;
      if constexpr (star) items.push_back(std::apply([](auto&... it) { return Item(*it...); }, its));
      else items.push_back(std::apply([](auto& it) { return Item(*it); }, its));
      std::apply([](auto&... it) { (++it, ...); }, its);
    }
    std::size_t n = items.size();
    auto chunks =
        multiprocessing::detail::submit_chunks<Fn, Item, star>(*engine_, Fn(std::forward<F>(fn)), std::move(items), options.chunksize);
    return ProcessMapResults<R>(std::move(chunks), n, options.chunksize, deadline);
  }

  void shutdown(bool wait = true, bool cancel_futures = false) override;
  /// Python 3.14: SIGTERM to every worker now; pending futures are cancelled, running
  /// ones raise BrokenProcessPool. Then as shutdown(wait=true).
  void terminate_workers();
  /// The same with SIGKILL.
  void kill_workers();

  /// The pids of the current workers (empty before the first submit).
  std::vector<int> worker_pids() const { return engine_->worker_pids(); }

 protected:
  void schedule(detail::WorkRef item) override;

 private:
  void check_open() const;
  void force_shutdown(int signal, const char* how);

  std::unique_ptr<multiprocessing::detail::PoolEngine> engine_;
};

}  // namespace pyconc::futures
