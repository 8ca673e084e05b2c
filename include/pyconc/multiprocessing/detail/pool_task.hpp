// What a process pool sends to a worker and gets back, type-erased: a task is the code
// address of a *runner* (a function template instantiated for the callable, argument and
// result types), the pickled callable and the pickled arguments. The worker resolves
// the runner, which unpickles, calls and pickles the result. The parent keeps a
// PoolTask per task: a future's state that knows how to decode the result.
//
//   parent: Pool::apply_async(f, x) ─► TaskState<R> { message = [runner][f][x] } ─► engine
//   worker: runner(f bytes, x bytes) ─► f(x) ─► pickled R ─► engine ─► TaskState::complete
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <span>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "pyconc/futures/future.hpp"
#include "pyconc/multiprocessing/detail/process_target.hpp"
#include "pyconc/multiprocessing/detail/reduction.hpp"
#include "pyconc/pickle.hpp"

namespace pyconc::multiprocessing::detail {

/// The worker's side of a task: unpickles the callable and arguments, calls, pickles the
/// result into `result`. Whatever it throws travels back as the task's exception.
using Runner = void (*)(std::span<const std::byte> fn, std::span<const std::byte> args,
                        std::vector<std::byte>& result);

/// One task as a pool engine sees it. The engine holds one reference from submit() until
/// it calls complete()/fail() or finds it cancelled, then release()s it.
class PoolTask {
 public:
  /// At dispatch: false when the task was cancelled (the engine drops it).
  virtual bool claim() noexcept = 0;
  /// The worker's pickled result.
  virtual void complete(std::span<const std::byte> result) noexcept = 0;
  virtual void fail(std::exception_ptr error) noexcept = 0;
  /// Cancels a task that was never dispatched (shutdown(cancel_futures=True)).
  virtual void cancel_pending() noexcept = 0;
  /// Drops the engine's reference.
  virtual void release_task() noexcept = 0;
  /// Whether the task's future was cancelled.
  virtual bool is_cancelled() const noexcept = 0;
  /// A task a worker skipped because it was withdrawn (see claim_word): once cancel()
  /// has finished marking the future cancelled, tells its waiters.
  virtual void skipped() noexcept = 0;
  /// Takes one more reference (a streamer thread's, while it reads `message`).
  virtual void retain_task() noexcept = 0;

  /// What the worker runs: [u32 n][runner address, n bytes][u32 m][callable, m bytes][args].
  std::vector<std::byte> message;
  /// The engine's sequence number (set at submit).
  std::uint64_t id = 0;
  /// claim() succeeded (a task a dead worker never started goes out again unclaimed).
  bool claimed = false;
  /// Copies of the fds that handles among the arguments (a Connection) exported while
  /// they were pickled; sent to the worker with the task (SCM_RIGHTS).
  std::vector<int> fds;

  /// Claim-in-worker mode (ProcessPoolExecutor): the task is sent ahead still pending;
  /// the worker claims it in this shared word (tag | kClaimQueued -> tag | kClaimRunning)
  /// before running it, and cancel() can withdraw it first (-> tag | kClaimCancelled).
  /// Null while the task is not in a worker's inbox.
  std::atomic<std::atomic<std::uint32_t>*> claim_word{nullptr};
  std::uint32_t claim_tag = 0;
  std::uint32_t claim_index = 0xffffffffU;  // its word in the worker's slot; none: claimed at dispatch

  static constexpr std::uint32_t kClaimQueued = 1, kClaimRunning = 2, kClaimCancelled = 3;

 protected:
  ~PoolTask() { close_all(fds); }
};

/// A runner's code address, pickled.
inline std::vector<std::byte> pickle_runner(Runner r) {
  return pyconc::pickle::dumps(code_address(reinterpret_cast<const void*>(r)));
}

/// The runner's code address, pickled once per runner.
template <Runner R>
const std::vector<std::byte>& runner_address() {
  static const std::vector<std::byte> bytes = pickle_runner(R);
  return bytes;
}

inline void put_u32(std::vector<std::byte>& out, std::uint32_t v) {
  std::byte b[4];
  std::memcpy(b, &v, 4);
  out.insert(out.end(), b, b + 4);
}

/// Starts a task message: runner and callable; the pickled arguments follow.
void begin_message(std::vector<std::byte>& out, const std::vector<std::byte>& runner,
                   const std::vector<std::byte>& fn, std::size_t args_hint);
/// Builds a task message from its parts.
void build_message(std::vector<std::byte>& out, const std::vector<std::byte>& runner,
                   const std::vector<std::byte>& fn, const std::vector<std::byte>& args);

/// The callable type a process API stores for F (a function becomes a pointer).
template <class F>
using stored_callable_t =
    std::conditional_t<std::is_function_v<std::remove_cvref_t<F>>, std::add_pointer_t<std::remove_cvref_t<F>>,
                       std::decay_t<F>>;

/// A function pointer's code address, resolved once per worker (dl_iterate_phdr costs
/// about a microsecond; a worker sees the same few functions again and again).
void* resolve_cached(std::span<const std::byte> address);

/// A task's callable, pickled. A function pointer's bytes are remembered per thread, so
/// a stream of submissions of one function looks its module up once.
template <class F>
void save_callable(std::vector<std::byte>& out, const F& fn) {
  if constexpr (function_pointer_v<F>) {
    thread_local const void* last = nullptr;
    thread_local std::vector<std::byte> bytes;
    const void* p = reinterpret_cast<const void*>(fn);
    if (p != last || bytes.empty()) {
      bytes = pyconc::pickle::dumps(code_address(p));
      last = p;
    }
    out = bytes;
  } else {
    CallableCodec<F>::save(out, fn);
  }
}

/// The worker's side of save_callable.
template <class F>
F load_callable(std::span<const std::byte> in) {
  if constexpr (function_pointer_v<F>) return reinterpret_cast<F>(resolve_cached(in));
  else return CallableCodec<F>::load(in);
}

template <class T>
void pickle_result(std::vector<std::byte>& out, T&& value) {
  pyconc::pickle::dump_into(out, value);
}

/// Runner of one call fn(args...).
template <class F, class... Args>
void run_call(std::span<const std::byte> fn_bytes, std::span<const std::byte> arg_bytes,
              std::vector<std::byte>& result) {
  F fn = load_callable<F>(fn_bytes);
  using R = std::invoke_result_t<F&, Args...>;
  auto args = pyconc::pickle::loads<std::tuple<Args...>>(arg_bytes);
  if constexpr (std::is_void_v<R>) {
    std::apply([&fn](Args&... a) { std::invoke(fn, std::move(a)...); }, args);
  } else {
    R r = std::apply([&fn](Args&... a) -> R { return std::invoke(fn, std::move(a)...); }, args);
    pickle_result(result, r);
  }
}

/// The element a chunk's result vector holds for R (void: nothing, only a count).
template <class R>
using chunk_value_t = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

/// Runner of a chunk: fn(x) for every x of a pickled std::vector<Item> (Star: Item is a
/// tuple spread into fn's arguments), results as a pickled std::vector.
template <class F, class Item, bool Star>
void run_chunk(std::span<const std::byte> fn_bytes, std::span<const std::byte> arg_bytes,
               std::vector<std::byte>& result) {
  F fn = load_callable<F>(fn_bytes);
  auto items = pyconc::pickle::loads<std::vector<Item>>(arg_bytes);
  auto call = [&fn](Item& x) -> decltype(auto) {
    if constexpr (Star) return std::apply([&fn](auto&... a) -> decltype(auto) { return std::invoke(fn, std::move(a)...); }, x);
    else return std::invoke(fn, std::move(x));
  };
  using R = decltype(call(std::declval<Item&>()));
  if constexpr (std::is_void_v<R>) {
    for (Item& x : items) call(x);
    std::vector<std::monostate> out(items.size());
    pickle_result(result, out);
  } else {
    std::vector<std::decay_t<R>> out;
    out.reserve(items.size());
    for (Item& x : items) out.push_back(call(x));
    pickle_result(result, out);
  }
}

/// The message of fn(args...) (and the fds its arguments export) into `task`.
template <class F, class... Args>
void encode_call(PoolTask& task, const F& fn, const std::tuple<Args...>& args) {
  thread_local std::vector<std::byte> fn_bytes;
  save_callable(fn_bytes, fn);
  begin_message(task.message, runner_address<&run_call<F, Args...>>(), fn_bytes, 16);
  FdExport exported;
  pyconc::pickle::dump_into(task.message, args);
  if (!exported.fds().empty()) task.fds = dup_all(exported.fds());
}

/// The message of a chunk of items for fn.
template <class F, class Item, bool Star>
void encode_chunk(std::vector<std::byte>& out, const F& fn, const std::vector<Item>& items) {
  std::vector<std::byte> fn_bytes;
  save_callable(fn_bytes, fn);
  build_message(out, runner_address<&run_chunk<F, Item, Star>>(), fn_bytes, pyconc::pickle::dumps(items));
}

/// The future's state of a pool task whose result is an R.
template <class R>
class TaskState final : public futures::detail::FutureState<R>, public PoolTask {
 public:
  TaskState() noexcept : futures::detail::FutureState<R>(2) {}  // the Future's and the engine's

  bool claim() noexcept override {
    try {
      return this->set_running_or_notify_cancel();
    } catch (...) {
      return false;
    }
  }
  void complete(std::span<const std::byte> result) noexcept override {
    try {
      if constexpr (std::is_void_v<R>) {
        if (!result.empty()) throw ValueError("a void task returned " + std::to_string(result.size()) + " bytes");
        this->set_result();
      } else {
        this->set_result(pyconc::pickle::loads<R>(result));
      }
    } catch (...) {
      fail(std::current_exception());
    }
  }
  void fail(std::exception_ptr error) noexcept override {
    try {
      this->set_exception(std::move(error));
    } catch (...) {  // already done (cancelled): nothing to report
    }
  }
  void cancel_pending() noexcept override {
    try {
      this->cancel();
      this->set_running_or_notify_cancel();
    } catch (...) {
    }
  }
  void release_task() noexcept override { this->release(); }
  bool is_cancelled() const noexcept override { return this->cancelled(); }
  void skipped() noexcept override {
    // cancel() withdrew it and is about to mark it cancelled (it holds the state's lock):
    // wait for that, then notify as an executor does for a cancelled task.
    while (!this->cancelled()) std::this_thread::yield();
    claim();
  }
  void retain_task() noexcept override { this->retain(); }

 private:
  bool withdraw() noexcept override {
    std::atomic<std::uint32_t>* word = claim_word.load(std::memory_order_seq_cst);
    if (word == nullptr) return true;  // not in a worker's inbox: the engine sees cancelled()
    std::uint32_t expected = claim_tag | kClaimQueued;
    return word->compare_exchange_strong(expected, claim_tag | kClaimCancelled, std::memory_order_seq_cst);
  }

  void destroy() noexcept override { futures::detail::destroy_pooled(this); }
};

/// A new task state: the returned Future owns one reference, `*task` the engine's.
template <class R>
futures::Future<R> make_task(PoolTask*& task) {
  auto* state = futures::detail::make_pooled<TaskState<R>>();
  task = state;
  return futures::detail::FutureAccess::adopt<R>(state);
}

}  // namespace pyconc::multiprocessing::detail
