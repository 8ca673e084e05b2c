// concurrent.futures.ThreadPoolExecutor.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "pyconc/futures/executor.hpp"

namespace pyconc::futures {

/// ThreadPoolExecutor's keyword options.
struct ThreadPoolOptions {
  /// Worker names are "<prefix>_<n>"; default prefix "ThreadPoolExecutor-<k>".
  std::string thread_name_prefix;
  /// Called at the start of each worker thread (Python: initializer + initargs; bind the
  /// arguments in a lambda). If it throws, the pool is broken: pending and later tasks
  /// fail with BrokenThreadPool.
  std::function<void()> initializer;
};

/// An Executor running calls on a pool of threads (Python's ThreadPoolExecutor).
///
///     futures::ThreadPoolExecutor ex(4, {.thread_name_prefix = "io"});
///     auto f = ex.submit(fetch, url);
///     std::string page = f.result();
///
/// max_workers defaults to min(32, CPUs this process may use + 4); < 1 raises ValueError. Threads start
/// on demand, one per submit while none is idle, up to max_workers, and are reused.
/// Work runs in submission order. An idle worker polls for new work briefly, then
/// sleeps; it takes a new task at once either way, even while other workers are busy.
/// The destructor is shutdown(wait = true); at program exit, a pool never shut down
/// finishes its queued work and its threads exit.
///
/// Thread safety: every member may be called from any thread.
///
/// Memory ordering: as Executor.
///
/// Differences from Python: `initargs` is folded into `initializer` (bind them in a
/// lambda). max_workers() is a public accessor of Python's private `_max_workers`.
///
///   submit ─► [work queue] ─► worker threads (polling, or parked) ─► run ─► future
///   shutdown ─► the queue closes: later submits raise; workers drain it, then exit
class ThreadPoolExecutor : public Executor {
 public:
  explicit ThreadPoolExecutor(std::optional<int> max_workers = std::nullopt, ThreadPoolOptions options = {});
  ~ThreadPoolExecutor() override;

  void shutdown(bool wait = true, bool cancel_futures = false) override;
  int max_workers() const noexcept;

  struct Impl;

 protected:
  void schedule(detail::WorkRef item) override;

 private:
  std::shared_ptr<Impl> impl_;
  std::uint64_t exit_hook_ = 0;
};

}  // namespace pyconc::futures
