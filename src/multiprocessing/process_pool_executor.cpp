// concurrent.futures.ProcessPoolExecutor on the pool engine (break_pool mode).
#include "pyconc/multiprocessing/process_pool_executor.hpp"

#include <signal.h>

#include <string>

#include "pyconc/multiprocessing/process.hpp"

namespace pyconc::futures {

ProcessPoolExecutor::ProcessPoolExecutor(std::optional<int> max_workers, ProcessPoolOptions options) {
  int n = max_workers ? *max_workers : multiprocessing::cpu_count();
  if (n <= 0) throw ValueError("max_workers must be greater than 0");
  // As Python: max_tasks_per_child without a context means "spawn" (fork cannot replace
  // workers safely in a process with threads).
  multiprocessing::Context ctx = options.mp_context ? *options.mp_context
                                 : options.max_tasks_per_child ? multiprocessing::get_context("spawn")
                                                               : multiprocessing::get_context();
  if (options.max_tasks_per_child) {
    if (*options.max_tasks_per_child < 1) throw ValueError("max_tasks_per_child must be >= 1");
    if (ctx.start_method() == "fork")
      throw ValueError(
          "max_tasks_per_child is incompatible with the 'fork' multiprocessing start method; supply a "
          "different mp_context.");
  }
  multiprocessing::detail::EngineConfig config;
  config.processes = n;
  config.start_method = ctx.start_method();
  config.initializer = multiprocessing::detail::InitializerAccess::message(options.initializer, options.initargs);
  config.max_tasks_per_child = options.max_tasks_per_child;
  config.on_death = multiprocessing::detail::EngineConfig::OnDeath::break_pool;
  config.name_prefix = multiprocessing::detail::worker_name_stem(config.start_method) + "Process";
  config.lazy_start = true;
  // Sent ahead as far as Pool sends, but still pending until a worker claims them, so
  // that cancel() works as in Python.
  config.claim_in_worker = true;
  engine_ = std::make_unique<multiprocessing::detail::PoolEngine>(std::move(config));
}

ProcessPoolExecutor::~ProcessPoolExecutor() {
  try {
    shutdown(true);
  } catch (...) {
  }
}

void ProcessPoolExecutor::check_open() const {
  if (engine_->accepting()) return;
  if (std::exception_ptr e = engine_->broken()) std::rethrow_exception(e);
  if (engine_->closed()) throw RuntimeError("cannot schedule new futures after shutdown");
}

void ProcessPoolExecutor::shutdown(bool wait, bool cancel_futures) {
  if (cancel_futures) engine_->cancel_pending();
  engine_->close();
  if (wait) engine_->join();
}

void ProcessPoolExecutor::force_shutdown(int signal, const char* how) {
  engine_->cancel_pending();
  engine_->terminate(std::make_exception_ptr(BrokenProcessPool(
                         std::string("A process in the process pool was terminated abruptly while the future was "
                                     "running or pending (the executor's ") +
                         how + "())")),
                     signal);
}

void ProcessPoolExecutor::terminate_workers() { force_shutdown(SIGTERM, "terminate_workers"); }
void ProcessPoolExecutor::kill_workers() { force_shutdown(SIGKILL, "kill_workers"); }

void ProcessPoolExecutor::schedule(detail::WorkRef) {
  throw RuntimeError(
      "ProcessPoolExecutor: submit() through the Executor base cannot send a C++ closure to another process; "
      "call ProcessPoolExecutor::submit with a transferable function");
}

}  // namespace pyconc::futures
