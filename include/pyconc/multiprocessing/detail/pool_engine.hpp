// The engine under Pool and ProcessPoolExecutor: worker processes, the shared-memory
// channels to them, and the parent's thread that collects results and watches the
// workers. The two front ends differ only in what a worker's death does (EngineConfig::
// on_death). The machinery is in src/multiprocessing/pool_*.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pyconc/multiprocessing/detail/pool_task.hpp"

namespace pyconc::multiprocessing::detail {

struct EngineConfig {
  int processes = 1;
  /// "fork", "spawn" or "forkserver".
  std::string start_method;
  /// The initializer's task message (empty: none).
  std::vector<std::byte> initializer;
  /// Tasks a worker runs before it is replaced; nullopt: no limit.
  std::optional<long long> max_tasks_per_child;
  enum class OnDeath {
    /// multiprocessing.Pool: the task the dead worker held fails with WorkerLostError;
    /// the worker is replaced; every other task goes on.
    fail_task,
    /// ProcessPoolExecutor: the pool is broken; every pending and later task fails
    /// with BrokenProcessPool.
    break_pool
  };
  OnDeath on_death = OnDeath::fail_task;
  /// The workers' names: "<prefix>-<n>".
  std::string name_prefix = "PoolWorker";
  /// Tasks sent ahead to a worker beyond the one it runs: adaptive (Pool: up to ~200 µs
  /// of work, judged by how long its tasks take, at most 63) or exactly one
  /// (ProcessPoolExecutor: what is sent can no longer be cancelled, as in Python).
  bool adaptive_prefetch = true;
  /// Where a task becomes running: at dispatch (Pool), or when the worker takes it
  /// (ProcessPoolExecutor): a task sent ahead stays pending, and cancel() can still
  /// withdraw it until the worker claims it, so the executor may send as far ahead as
  /// Pool does and keep Python's cancel().
  bool claim_in_worker = false;
  /// Start the workers when the first task comes (ProcessPoolExecutor) rather than at
  /// once (Pool).
  bool lazy_start = false;
};

/// A start method as Python spells it in worker names: "Fork", "Spawn", "ForkServer"
/// ("ForkPoolWorker-1", "SpawnProcess-2").
std::string worker_name_stem(const std::string& start_method);

/// A pool of worker processes that run PoolTasks. Thread safety: every member may be
/// called from any thread of the process that made it.
class PoolEngine {
 public:
  explicit PoolEngine(EngineConfig config);
  PoolEngine(const PoolEngine&) = delete;
  PoolEngine& operator=(const PoolEngine&) = delete;
  /// Terminates what still runs (SIGTERM), failing what is left.
  ~PoolEngine();

  /// Queues `task` (the engine takes the reference in it). When the pool is closed or
  /// broken, the task fails at once with that error.
  void submit(PoolTask* task);
  /// Queues many tasks at once (one lock, one wake-up).
  void submit_many(std::vector<PoolTask*> tasks);

  /// No more tasks: submit() raises from now on (the front end says what).
  void close() noexcept;
  bool closed() const noexcept;
  /// Neither closed, broken nor terminated (no lock: the fast path of every submit).
  bool accepting() const noexcept;
  /// After close(): waits until every task has ended and the workers have exited.
  void join();
  /// Whether join() would return at once.
  bool joined() const noexcept;
  /// Cancels every task not yet sent to a worker.
  void cancel_pending() noexcept;
  /// Fails every task not yet ended with `error`, sends `signal` to the workers and
  /// reaps them (close() included). Returns once they are gone.
  void terminate(std::exception_ptr error, int signal);

  /// The error of a broken pool (break_pool mode), else null.
  std::exception_ptr broken() const;
  /// The pids of the live workers (for tests and diagnostics).
  std::vector<int> worker_pids() const;
  int processes() const noexcept;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace pyconc::multiprocessing::detail
