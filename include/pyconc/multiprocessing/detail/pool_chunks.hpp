// Pool's machinery for many items: cutting a range into chunks (one task each), joining
// chunk results into one list, the order in which imap hands chunks out, callbacks.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <ranges>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "pyconc/errors.hpp"
#include "pyconc/futures/future.hpp"
#include "pyconc/multiprocessing/detail/pool_engine.hpp"
#include "pyconc/multiprocessing/detail/pool_task.hpp"
#include "pyconc/queue/simple_queue.hpp"

namespace pyconc::multiprocessing::detail {

template <class Fn, class... Args>
constexpr void check_transferable() {
  static_assert(transferable_v<Fn>,
                "pyconc: a pool's function must be transferable to the worker process: a function, a "
                "captureless lambda or a serialisable function object (docs/conventions.md, \"Callables "
                "across processes\"). Pass what a lambda would capture as arguments instead.");
  static_assert((picklable_v<Args> && ...),
                "pyconc: every argument of a pool task must be picklable (pyconc::pickle::dumps must accept "
                "it): values, standard containers, pyconc handles, or a type with a cereal serialize()");
}

/// What fn returns for an item (spread when Star), void as std::monostate.
template <class Fn, class Item, bool Star>
struct map_result_of {
  using type = chunk_value_t<std::invoke_result_t<Fn&, Item>>;
};
template <class Fn, class... A>
struct map_result_of<Fn, std::tuple<A...>, true> {
  using type = chunk_value_t<std::invoke_result_t<Fn&, A...>>;
};
template <class Fn, class A, class B>
struct map_result_of<Fn, std::pair<A, B>, true> {
  using type = chunk_value_t<std::invoke_result_t<Fn&, A, B>>;
};
template <class F, class Item, bool Star>
using map_result_t = typename map_result_of<stored_callable_t<F>, std::remove_cvref_t<Item>, Star>::type;

/// The item of zipped ranges: the element of one range, a tuple of several.
template <class... Ranges>
struct zipped_item {
  using type = std::tuple<std::remove_cvref_t<std::ranges::range_value_t<Ranges>>...>;
};
template <class Range>
struct zipped_item<Range> {
  using type = std::remove_cvref_t<std::ranges::range_value_t<Range>>;
};


[[noreturn]] void raise_bad_chunksize(long long chunksize);

/// Cuts `items` (a range of Item, consumed here; an rvalue container's items are moved)
/// into chunks of `chunksize` and submits one task each. Chunks go to the engine in
/// batches as they are made, so the workers start on the first ones while the rest are
/// still being pickled.
template <class Fn, class Item, bool Star, class Items>
std::vector<futures::Future<std::vector<map_result_t<Fn, Item, Star>>>> submit_chunks(PoolEngine& engine, const Fn& fn,
                                                                                     Items&& items, int chunksize) {
  using Chunk = std::vector<map_result_t<Fn, Item, Star>>;
  constexpr bool kMove = std::is_rvalue_reference_v<Items&&> && !std::ranges::view<std::remove_cvref_t<Items>>;
  constexpr std::size_t kBatchTasks = 64;
  constexpr std::size_t kBatchBytes = std::size_t{1} << 18;
  std::vector<futures::Future<Chunk>> futures;
  std::vector<PoolTask*> batch;
  std::size_t batch_bytes = 0;
  std::size_t step = static_cast<std::size_t>(chunksize);
  std::vector<Item> part;
  if constexpr (std::ranges::sized_range<Items>) {
    auto n = static_cast<std::size_t>(std::ranges::size(items));
    futures.reserve((n + step - 1) / step);
    part.reserve(step < n ? step : n);
  }
  std::vector<std::byte> fn_bytes;
  save_callable(fn_bytes, fn);
  const auto& runner = runner_address<&run_chunk<Fn, Item, Star>>();
  auto flush = [&] {
    if (batch.empty()) return;
    engine.submit_many(std::move(batch));
    batch = {};
    batch_bytes = 0;
  };
  auto cut = [&] {
    PoolTask* task = nullptr;
    futures.push_back(make_task<Chunk>(task));
    try {
      // The items are pickled straight after the header: one copy of them, not two.
      build_message(task->message, runner, fn_bytes, {});
      task->message.reserve(task->message.size() + pyconc::pickle::detail::size_hint(part));
      FdExport exported;
      pyconc::pickle::dump_into(task->message, part);
      if (!exported.fds().empty()) task->fds = dup_all(exported.fds());
    } catch (...) {  // this chunk's items cannot be pickled: it fails alone
      task->fail(std::current_exception());
      task->release_task();
      part.clear();
      return;
    }
    part.clear();
    batch_bytes += task->message.size();
    batch.push_back(task);
    if (batch.size() >= kBatchTasks || batch_bytes >= kBatchBytes) flush();
  };
  try {
    for (auto&& x : items) {
      if constexpr (kMove) part.push_back(std::move(x));
      else part.push_back(Item(x));
      if (part.size() == step) cut();
    }
    if (!part.empty()) cut();
  } catch (...) {  // the range itself failed: what was not handed to the engine is dropped
    for (PoolTask* t : batch) {
      t->fail(std::current_exception());
      t->release_task();
    }
    throw;
  }
  flush();
  return futures;
}

/// One future for the whole list: the chunks' results in order, or the first failure.
template <class R>
futures::Future<std::vector<R>> join_chunks(std::vector<futures::Future<std::vector<R>>> chunks) {
  futures::Future<std::vector<R>> all;
  if (chunks.empty()) {
    all.set_running_or_notify_cancel();
    all.set_result(std::vector<R>{});
    return all;
  }
  all.set_running_or_notify_cancel();
  struct Join {
    std::vector<futures::Future<std::vector<R>>> chunks;
    std::atomic<std::size_t> left;
    std::atomic<bool> failed{false};
    futures::Future<std::vector<R>> all;
  };
  auto join = std::make_shared<Join>();
  join->left.store(chunks.size());
  join->all = all;
  join->chunks = chunks;  // handles; each chunk's callback list is emptied once it ran
  for (auto& c : chunks)
    c.add_done_callback([join](futures::Future<std::vector<R>> done) {
      if (std::exception_ptr e = done.exception()) {
        if (!join->failed.exchange(true)) join->all.set_exception(e);
      } else if (join->left.fetch_sub(1) == 1 && !join->failed.load()) {
        // The chunks' futures are the join's alone: their lists are moved out.
        std::size_t total = 0;
        for (auto& part : join->chunks) total += futures::detail::FutureAccess::state(part).value().size();
        std::vector<R> out;
        out.reserve(total);
        for (auto& part : join->chunks) {
          std::vector<R> values = futures::detail::FutureAccess::state(part).take_value();
          out.insert(out.end(), std::make_move_iterator(values.begin()), std::make_move_iterator(values.end()));
        }
        join->all.set_result(std::move(out));
      }
    });
  return all;
}

/// The type of a result's callback: called with the result, or with nothing for void.
/// (A trait, not std::conditional_t: std::function<void(const void&)> is ill-formed.)
template <class R>
struct result_callback {
  using type = std::function<void(const R&)>;
};
template <>
struct result_callback<void> {
  using type = std::function<void()>;
};
template <class R>
using result_callback_t = typename result_callback<R>::type;

/// Python's callback/error_callback on a result.
template <class R, class Callback>
void add_callbacks(futures::Future<R>& future, Callback callback, std::function<void(std::exception_ptr)> error_callback) {
  if (!callback && !error_callback) return;
  future.add_done_callback([callback = std::move(callback), error_callback = std::move(error_callback)](
                               futures::Future<R> done) {
    if (std::exception_ptr e = done.exception()) {
      if (error_callback) error_callback(e);
    } else if (callback) {
      if constexpr (std::is_void_v<R>) callback();
      else callback(futures::detail::FutureAccess::state(done).value());
    }
  });
}

/// The order in which imap hands out chunks: input order, or completion order.
class ChunkOrder {
 public:
  virtual ~ChunkOrder() = default;
  /// The index of the next chunk, once it is done; multiprocessing::TimeoutError at the
  /// deadline.
  virtual std::size_t next(const pyconc::detail::Deadline& deadline) = 0;
};

class InputOrder final : public ChunkOrder {
 public:
  explicit InputOrder(std::vector<futures::detail::FutureCore*> cores) : cores_(std::move(cores)) {}
  std::size_t next(const pyconc::detail::Deadline& deadline) override;

 private:
  std::vector<futures::detail::FutureCore*> cores_;  // owned by the IMapIterator's futures
  std::size_t next_ = 0;
};

class CompletionOrder final : public ChunkOrder {
 public:
  CompletionOrder() : done_(std::make_shared<queue::SimpleQueue<std::size_t>>()) {}
  std::size_t next(const pyconc::detail::Deadline& deadline) override;
  const std::shared_ptr<queue::SimpleQueue<std::size_t>>& done() const noexcept { return done_; }

 private:
  std::shared_ptr<queue::SimpleQueue<std::size_t>> done_;
};

template <class C>
std::unique_ptr<ChunkOrder> completion_order(std::vector<futures::Future<C>>& chunks, bool ordered) {
  if (ordered) {
    std::vector<futures::detail::FutureCore*> cores;
    cores.reserve(chunks.size());
    for (auto& c : chunks) cores.push_back(&futures::detail::FutureAccess::core(c));
    return std::make_unique<InputOrder>(std::move(cores));
  }
  auto order = std::make_unique<CompletionOrder>();
  for (std::size_t i = 0; i < chunks.size(); ++i)
    chunks[i].add_done_callback([done = order->done(), i](futures::Future<C>) { done->put(i); });
  return order;
}

}  // namespace pyconc::multiprocessing::detail
