// multiprocessing.Pool: what its templates do not (the engine's configuration, the
// order of close/terminate/join, chunk sizes), and the pieces of task messages.
#include "pyconc/multiprocessing/pool.hpp"

#include <signal.h>

#include <cstring>
#include <string>

#include "pyconc/multiprocessing/process.hpp"

namespace pyconc::multiprocessing {

namespace detail {

void begin_message(std::vector<std::byte>& out, const std::vector<std::byte>& runner,
                   const std::vector<std::byte>& fn, std::size_t args_hint) {
  out.clear();
  out.reserve(8 + runner.size() + fn.size() + args_hint);
  put_u32(out, static_cast<std::uint32_t>(runner.size()));
  out.insert(out.end(), runner.begin(), runner.end());
  put_u32(out, static_cast<std::uint32_t>(fn.size()));
  out.insert(out.end(), fn.begin(), fn.end());
}

void build_message(std::vector<std::byte>& out, const std::vector<std::byte>& runner,
                   const std::vector<std::byte>& fn, const std::vector<std::byte>& args) {
  begin_message(out, runner, fn, args.size());
  out.insert(out.end(), args.begin(), args.end());
}

void raise_bad_chunksize(long long chunksize) {
  throw ValueError("Chunksize must be 1+, not " + std::to_string(chunksize));
}

std::size_t InputOrder::next(const pyconc::detail::Deadline& deadline) {
  if (!cores_[next_]->wait_done(deadline)) throw TimeoutError("the next result is not ready");
  return next_++;
}

std::size_t CompletionOrder::next(const pyconc::detail::Deadline& deadline) {
  try {
    if (deadline.is_never()) return done_->get();
    return done_->get(true, deadline.remaining());
  } catch (const queue::Empty&) {
    throw TimeoutError("the next result is not ready");
  }
}

}  // namespace detail

Pool::Pool(PoolOptions options) {
  int n = options.processes ? *options.processes : cpu_count();
  if (n < 1) throw ValueError("Number of processes must be at least 1");
  if (options.maxtasksperchild && *options.maxtasksperchild < 1)
    throw ValueError("maxtasksperchild must be a positive int or None");
  Context ctx = options.context ? *options.context : get_context();
  detail::EngineConfig config;
  config.processes = n;
  config.start_method = ctx.start_method();
  config.initializer = detail::InitializerAccess::message(options.initializer, options.initargs);
  config.max_tasks_per_child = options.maxtasksperchild;
  config.on_death = detail::EngineConfig::OnDeath::fail_task;
  config.name_prefix = detail::worker_name_stem(config.start_method) + "PoolWorker";
  engine_ = std::make_unique<detail::PoolEngine>(std::move(config));
}

Pool::~Pool() {
  if (!engine_) return;
  try {
    terminate();
  } catch (...) {
  }
}

void Pool::check_running() const {
  if (engine_->accepting()) return;
  // A pool broken by its initializer was not closed by its user: the engine fails each
  // new task with the initializer's error instead.
  if (engine_->closed() && !engine_->broken()) throw ValueError("Pool not running");
}

int Pool::default_chunksize(std::size_t items) const {
  std::size_t per = static_cast<std::size_t>(processes()) * 4;
  std::size_t c = (items + per - 1) / per;
  return c == 0 ? 1 : static_cast<int>(c > 0x7fffffff ? 0x7fffffff : c);
}

void Pool::close() { engine_->close(); }

void Pool::terminate() {
  engine_->terminate(std::make_exception_ptr(ProcessError("the pool was terminated before the task completed")),
                     SIGTERM);
}

void Pool::join() {
  if (!engine_->closed()) throw ValueError("Pool is still running");
  engine_->join();
}

Pool Context::Pool() const { return Pool(PoolOptions{}); }
Pool Context::Pool(int processes) const { return Pool(PoolOptions{.processes = processes}); }
Pool Context::Pool(PoolOptions options) const {
  options.context = *this;
  return multiprocessing::Pool(std::move(options));
}

}  // namespace pyconc::multiprocessing
