// multiprocessing.Pool and its results (AsyncResult, the imap iterators).
#pragma once

#include <concepts>
#include <cstddef>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "pyconc/errors.hpp"
#include "pyconc/futures/future.hpp"
#include "pyconc/multiprocessing/context.hpp"
#include "pyconc/multiprocessing/detail/pool_chunks.hpp"
#include "pyconc/multiprocessing/detail/pool_engine.hpp"
#include "pyconc/multiprocessing/initializer.hpp"

namespace pyconc::multiprocessing {

/// Pool's keyword options (Python: Pool(processes, initializer, initargs,
/// maxtasksperchild, context)).
struct PoolOptions {
  /// Worker processes; default cpu_count(). ValueError when < 1.
  std::optional<int> processes;
  /// Run once by every worker when it starts (a transferable callable), with `initargs`.
  Initializer initializer;
  InitArgs initargs;
  /// Tasks a worker completes before it exits and is replaced; default: no limit.
  /// ValueError when < 1.
  std::optional<long long> maxtasksperchild;
  /// The start method of the workers; default get_context().
  std::optional<Context> context;
};

/// The callback options of apply_async (Python: callback=, error_callback=). Both run in
/// the pool's result thread, once the result is ready: keep them short.
template <class R>
struct ApplyOptions {
  /// Called with the result when the call succeeded (for void: with nothing).
  detail::result_callback_t<R> callback;
  /// Called with the exception when the call failed.
  std::function<void(std::exception_ptr)> error_callback;
};

/// The options of map_async and starmap_async.
template <class R>
struct MapAsyncOptions {
  /// Items per task; default: about len / (4 * processes), at least 1.
  std::optional<int> chunksize;
  std::function<void(const std::vector<R>&)> callback;
  std::function<void(std::exception_ptr)> error_callback;
};

/// The options of map, starmap, imap and imap_unordered.
struct PoolMapOptions {
  /// Items per task; map/starmap: default about len / (4 * processes); imap: default 1.
  std::optional<int> chunksize;
};

/// The result of apply_async/map_async/starmap_async (Python's AsyncResult).
///
///     auto r = pool.apply_async(square, 7);
///     r.wait(1s);                      // true once ready
///     int v = r.get(5s);               // multiprocessing::TimeoutError after 5 s
///
/// Errors: get() rethrows the call's exception (with its type; WorkerLostError when the
/// worker holding the task died; ProcessError when the pool was terminated first);
/// get(timeout) raises multiprocessing::TimeoutError; successful() before ready()
/// raises ValueError.
///
/// Thread safety: a cheap handle (copies share the result); any thread may wait.
///
/// Differences from Python: wait(timeout) returns whether the result is ready (Python
/// returns None).
template <class R>
class AsyncResult {
 public:
  explicit AsyncResult(futures::Future<R> future) : future_(std::move(future)) {}

  R get() const { return future_.result(); }
  R get(Seconds timeout) const {
    if (!wait(timeout)) throw TimeoutError("the result is not ready");
    return future_.result();
  }
  void wait() const { future_.exception(); }
  bool wait(Seconds timeout) const {
    try {
      future_.exception(timeout);
      return true;
    } catch (const futures::TimeoutError&) {
      return false;
    }
  }
  bool ready() const noexcept { return future_.done(); }
  /// Whether the call returned without an exception. ValueError before ready().
  bool successful() const {
    if (!ready()) throw ValueError("the result is not ready");
    return future_.exception() == nullptr;
  }
  /// The future under this result (for futures::wait/as_completed).
  const futures::Future<R>& future() const noexcept { return future_; }

 private:
  futures::Future<R> future_;
};

/// The results of imap/imap_unordered (Python's IMapIterator): an input range consumed
/// once; next(timeout) as in Python. Its end is Python's StopIteration.
///
///     for (int r : pool.imap(square, xs)) ...              // in input order
///     auto it = pool.imap_unordered(square, xs);
///     auto first = it.next(2s);                            // TimeoutError after 2 s
///
/// A failing item rethrows at its position (its whole chunk fails), once: the next call
/// goes on with the following chunk, as Python's does after a failed item. size() is the
/// number of items, so the range has a known length (e.g. for a progress bar).
///
/// Thread safety: one consumer at a time.
template <class R>
class IMapIterator {
 public:
  using value_type = detail::chunk_value_t<R>;
  IMapIterator(std::vector<futures::Future<std::vector<value_type>>> chunks, std::size_t items, bool ordered)
      : chunks_(std::move(chunks)), items_(items), order_(detail::completion_order(chunks_, ordered)) {}

  /// The next result; nullopt at the end (Python: StopIteration).
  std::optional<value_type> next() { return next_until(pyconc::detail::Deadline::never()); }
  /// multiprocessing::TimeoutError when no result comes within `timeout`.
  std::optional<value_type> next(Seconds timeout) {
    return next_until(pyconc::detail::deadline_for(pyconc::detail::TimeoutRule::multiprocessing, timeout));
  }
  std::size_t size() const noexcept { return items_; }

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = IMapIterator::value_type;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(IMapIterator* owner) : owner_(owner) { ++*this; }
    value_type operator*() const { return std::move(*current_); }
    iterator& operator++() {
      current_ = owner_->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return !current_; }

   private:
    IMapIterator* owner_ = nullptr;
    std::optional<value_type> current_;
  };
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return {}; }

 private:
  std::optional<value_type> next_until(const pyconc::detail::Deadline& deadline) {
    while (!chunk_ || pos_ >= chunk_->size()) {
      if (taken_ == chunks_.size()) return std::nullopt;
      std::size_t index = order_->next(deadline);  // TimeoutError
      // The chunk counts as taken even when it rethrows its exception below: the next
      // call goes on with the chunk after it.
      ++taken_;
      chunk_.reset();
      pos_ = 0;
      chunk_ = chunks_[index].result();
    }
    return std::move((*chunk_)[pos_++]);
  }

  std::vector<futures::Future<std::vector<value_type>>> chunks_;
  std::size_t items_;
  std::unique_ptr<detail::ChunkOrder> order_;
  std::optional<std::vector<value_type>> chunk_;
  std::size_t pos_ = 0;
  std::size_t taken_ = 0;
};

/// A pool of worker processes (Python's multiprocessing.Pool).
///
///     int square(int x) { return x * x; }
///     multiprocessing::Pool pool(4);                                  // with Pool(4) as pool:
///     std::vector<int> r = pool.map(square, std::views::iota(0, 10));  //   pool.map(square, range(10))
///     auto a = pool.apply_async(square, 20);                          //   a.get(timeout=1)
///     int v = a.get(1s);
///
/// Functions must be transferable and arguments and results picklable (docs/conventions.md,
/// "Callables across processes"); a capturing lambda does not compile. Exceptions come
/// back with their types. A task whose arguments or result cannot be pickled fails alone.
///
/// A worker that dies (killed, crashed, exit()) never hangs the pool: the one task it
/// held fails with WorkerLostError naming its pid and exit code or signal; tasks it had
/// not started go to other workers; the worker is replaced. (Python's Pool hangs.)
/// An initializer that throws ends the pool: every result pending and every later
/// call's result fails with ProcessError naming the exception. (Python's Pool starts
/// new workers forever.)
///
/// Errors (Python's): calls after close()/terminate() raise ValueError("Pool not
/// running"); join() before close()/terminate() raises ValueError; chunksize < 1,
/// processes < 1 and maxtasksperchild < 1 raise ValueError. terminate() fails every
/// result still pending with ProcessError.
///
/// Lifetime: the destructor calls terminate(), as Python's `with Pool() as p:` does on
/// exit: call close() and join() first to let the work finish.
///
/// Thread safety: every member may be called from any thread.
///
/// Memory ordering: a call's arguments are copied at the call; its result is visible to
/// whoever sees its result ready.
///
/// Differences from Python: the inputs of map/imap are consumed (copied into chunks) at
/// the call; imap results are a range with next(timeout); callbacks are options
/// (apply_async(f, {.callback = ...}, args...)).
class Pool {
 public:
  Pool() : Pool(PoolOptions{}) {}
  explicit Pool(int processes) : Pool(PoolOptions{.processes = processes}) {}
  explicit Pool(PoolOptions options);
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  /// Movable (ctx.Pool() returns one); a moved-from Pool may only be destroyed.
  Pool(Pool&&) noexcept = default;
  Pool& operator=(Pool&&) = delete;
  ~Pool();

  /// fn(args...) in a worker; blocks for the result.
  template <class F, class... Args>
  auto apply(F&& fn, Args&&... args) {
    return apply_async(std::forward<F>(fn), std::forward<Args>(args)...).get();
  }

  /// fn(args...) in a worker; returns at once.
  template <class F, class... Args>
    requires std::invocable<detail::stored_callable_t<F>&, std::decay_t<Args>...>
  auto apply_async(F&& fn, Args&&... args) {
    using R = std::invoke_result_t<detail::stored_callable_t<F>&, std::decay_t<Args>...>;
    return apply_async(std::forward<F>(fn), ApplyOptions<R>{}, std::forward<Args>(args)...);
  }
  template <class F, class... Args>
    requires std::invocable<detail::stored_callable_t<F>&, std::decay_t<Args>...>
  auto apply_async(F&& fn,
                   std::type_identity_t<ApplyOptions<std::invoke_result_t<detail::stored_callable_t<F>&, std::decay_t<Args>...>>>
                       options,
                   Args&&... args) {
    using Fn = detail::stored_callable_t<F>;
    using R = std::invoke_result_t<Fn&, std::decay_t<Args>...>;
    detail::check_transferable<Fn, std::decay_t<Args>...>();
    check_running();
    detail::PoolTask* task = nullptr;
    futures::Future<R> future = detail::make_task<R>(task);
    try {
      detail::encode_call(*task, Fn(std::forward<F>(fn)), std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...));
    } catch (...) {  // the arguments could not be pickled: this task alone fails
      task->fail(std::current_exception());
      task->release_task();
      detail::add_callbacks(future, std::move(options.callback), std::move(options.error_callback));
      return AsyncResult<R>(std::move(future));
    }
    detail::add_callbacks(future, std::move(options.callback), std::move(options.error_callback));
    engine_->submit(task);
    return AsyncResult<R>(std::move(future));
  }

  /// Python's map(func, iterable, chunksize): fn(x) for every x, results in order.
  template <class F, std::ranges::input_range Range>
  auto map(F&& fn, Range&& items, PoolMapOptions options = {}) {
    return take(map_async(std::forward<F>(fn), std::forward<Range>(items), {.chunksize = options.chunksize}));
  }
  template <class F, std::ranges::input_range Range>
  auto map_async(F&& fn, Range&& items,
                 MapAsyncOptions<detail::map_result_t<F, std::ranges::range_value_t<Range>, false>> options = {}) {
    return map_impl<false>(std::forward<F>(fn), std::forward<Range>(items), std::move(options));
  }
  /// Python's starmap: fn(*args) for every tuple (or pair) of the range.
  template <class F, std::ranges::input_range Range>
  auto starmap(F&& fn, Range&& items, PoolMapOptions options = {}) {
    return take(starmap_async(std::forward<F>(fn), std::forward<Range>(items), {.chunksize = options.chunksize}));
  }
  template <class F, std::ranges::input_range Range>
  auto starmap_async(F&& fn, Range&& items,
                     MapAsyncOptions<detail::map_result_t<F, std::ranges::range_value_t<Range>, true>> options = {}) {
    return map_impl<true>(std::forward<F>(fn), std::forward<Range>(items), std::move(options));
  }

  // The same calls with the options right after the function, where Executor::map
  // takes them: pool.map(f, {.chunksize = 100}, xs).
  template <class F, std::ranges::input_range Range>
  auto map(F&& fn, PoolMapOptions options, Range&& items) {
    return map(std::forward<F>(fn), std::forward<Range>(items), options);
  }
  template <class F, std::ranges::input_range Range>
  auto map_async(F&& fn, MapAsyncOptions<detail::map_result_t<F, std::ranges::range_value_t<Range>, false>> options,
                 Range&& items) {
    return map_async(std::forward<F>(fn), std::forward<Range>(items), std::move(options));
  }
  template <class F, std::ranges::input_range Range>
  auto starmap(F&& fn, PoolMapOptions options, Range&& items) {
    return starmap(std::forward<F>(fn), std::forward<Range>(items), options);
  }
  template <class F, std::ranges::input_range Range>
  auto starmap_async(F&& fn, MapAsyncOptions<detail::map_result_t<F, std::ranges::range_value_t<Range>, true>> options,
                     Range&& items) {
    return starmap_async(std::forward<F>(fn), std::forward<Range>(items), std::move(options));
  }
  template <class F, std::ranges::input_range Range>
  auto imap(F&& fn, PoolMapOptions options, Range&& items) {
    return imap(std::forward<F>(fn), std::forward<Range>(items), options);
  }
  template <class F, std::ranges::input_range Range>
  auto imap_unordered(F&& fn, PoolMapOptions options, Range&& items) {
    return imap_unordered(std::forward<F>(fn), std::forward<Range>(items), options);
  }

  /// Python's imap: results in input order, as they come. Default chunksize 1.
  template <class F, std::ranges::input_range Range>
  auto imap(F&& fn, Range&& items, PoolMapOptions options = {}) {
    return imap_impl(std::forward<F>(fn), std::forward<Range>(items), options, true);
  }
  /// Python's imap_unordered: results in the order the chunks complete.
  template <class F, std::ranges::input_range Range>
  auto imap_unordered(F&& fn, Range&& items, PoolMapOptions options = {}) {
    return imap_impl(std::forward<F>(fn), std::forward<Range>(items), options, false);
  }

  /// No more tasks; the workers exit once the submitted work is done.
  void close();
  /// Stops the workers now (SIGTERM); results still pending fail with ProcessError.
  void terminate();
  /// Waits for the workers to exit. ValueError unless close() or terminate() came first.
  void join();

  /// The number of worker processes.
  int processes() const noexcept { return engine_->processes(); }
  /// The pids of the current workers (Python: [p.pid for p in pool._pool]).
  std::vector<int> worker_pids() const { return engine_->worker_pids(); }

 private:
  void check_running() const;
  int default_chunksize(std::size_t items) const;

  // The list of a map()/starmap() that no one else sees (no callbacks, the handle is
  // this call's): moved out of the result rather than copied, as get() would.
  template <class R>
  static std::vector<R> take(AsyncResult<std::vector<R>> result) {
    const futures::Future<std::vector<R>>& f = result.future();
    futures::detail::FutureAccess::core(f).wait_for_value(pyconc::detail::Deadline::never());
    return futures::detail::FutureAccess::state(f).take_value();
  }

  template <bool Star, class F, class Range, class R>
  AsyncResult<std::vector<R>> map_impl(F&& fn, Range&& items, MapAsyncOptions<R> options) {
    using Fn = detail::stored_callable_t<F>;
    using Item = std::remove_cvref_t<std::ranges::range_value_t<Range>>;
    detail::check_transferable<Fn, Item>();
    check_running();
    if (options.chunksize && *options.chunksize < 1) detail::raise_bad_chunksize(*options.chunksize);
    std::vector<futures::Future<std::vector<R>>> chunks;
    if constexpr (std::ranges::sized_range<Range>) {  // its length known: chunked straight from it
      auto n = static_cast<std::size_t>(std::ranges::size(items));
      int chunksize = options.chunksize ? *options.chunksize : default_chunksize(n);
      chunks = detail::submit_chunks<Fn, Item, Star>(*engine_, Fn(std::forward<F>(fn)), std::forward<Range>(items), chunksize);
    } else {
      std::vector<Item> all(std::ranges::begin(items), std::ranges::end(items));
      int chunksize = options.chunksize ? *options.chunksize : default_chunksize(all.size());
      chunks = detail::submit_chunks<Fn, Item, Star>(*engine_, Fn(std::forward<F>(fn)), std::move(all), chunksize);
    }
    auto future = detail::join_chunks<R>(std::move(chunks));
    detail::add_callbacks(future, std::move(options.callback), std::move(options.error_callback));
    return AsyncResult<std::vector<R>>(std::move(future));
  }

  template <class F, class Range>
  auto imap_impl(F&& fn, Range&& items, PoolMapOptions options, bool ordered) {
    using Fn = detail::stored_callable_t<F>;
    using Item = std::remove_cvref_t<std::ranges::range_value_t<Range>>;
    using R = detail::map_result_t<F, Item, false>;
    detail::check_transferable<Fn, Item>();
    check_running();
    int chunksize = options.chunksize.value_or(1);
    if (chunksize < 1) detail::raise_bad_chunksize(chunksize);
    if constexpr (std::ranges::sized_range<Range>) {  // its length known: chunked straight from it
      auto n = static_cast<std::size_t>(std::ranges::size(items));
      auto chunks = detail::submit_chunks<Fn, Item, false>(*engine_, Fn(std::forward<F>(fn)), std::forward<Range>(items), chunksize);
      return IMapIterator<R>(std::move(chunks), n, ordered);
    } else {
      std::vector<Item> all(std::ranges::begin(items), std::ranges::end(items));
      std::size_t n = all.size();
      auto chunks = detail::submit_chunks<Fn, Item, false>(*engine_, Fn(std::forward<F>(fn)), std::move(all), chunksize);
      return IMapIterator<R>(std::move(chunks), n, ordered);
    }
  }

  std::unique_ptr<detail::PoolEngine> engine_;
};

}  // namespace pyconc::multiprocessing
