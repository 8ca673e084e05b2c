// The parent's half of a process pool: who sends tasks, who collects results, what a
// worker's death does.
//
//   submit() ─► pending ─► pump(): to the worker with the fewest tasks in flight
//      (under the engine lock)        (at most limit(): ~200 µs of work queued ahead)
//                                     ─► inbox ring; a message larger than the ring goes
//                                        through a streamer thread, piece by piece
//   collector thread: outbox rings ─► result messages ─► the task's future
//                     poll(bell, pidfds) when idle; a pidfd readable = a worker ended:
//                     drain its outbox, then the task it held (slot.current) fails
//                     (WorkerLostError) or breaks the pool (BrokenProcessPool); the tasks
//                     it had not started go back to pending; a replacement starts.
//   close(): when nothing is pending or in flight, each worker gets a stop message.
//
// This file: starting workers, ending the pool, the public face. Sending:
// pool_dispatch.cpp. Collecting and worker deaths: pool_collector.cpp. The worker's
// side: pool_worker.cpp. The shared memory: pool_channel.hpp.
#include "pool_engine_impl.hpp"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>

#include "pyconc/futures/future.hpp"
#include "pyconc/pickle/exceptions.hpp"

namespace pyconc::multiprocessing::detail {

using pool::Ring;
using Clock = std::chrono::steady_clock;

PoolEngine::Impl::Impl(EngineConfig c) : config(std::move(c)) {
  if (config.processes < 1) throw ValueError("Number of processes must be at least 1");
  auto n = static_cast<std::uint32_t>(config.processes);
  link.segment = SharedSegment::create(pool::segment_bytes(n));
  layout = pool::format(link.segment->data(), n);
  link.bell = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (link.bell < 0) raise_os_error(errno, "eventfd");
  slots.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    auto s = std::make_unique<Slot>();
    s->index = i;
    s->in = layout.inbox(i);
    s->out = layout.outbox(i);
    s->header = layout.slot(i);
    slots.push_back(std::move(s));
  }
}

PoolEngine::Impl::~Impl() {
  // The last reference may be the collector's own (a pool whose start failed).
  if (collector.joinable()) {
    if (collector_id.load() == std::this_thread::get_id()) collector.detach();
    else collector.join();
  }
  for (auto& s : slots) {
    if (s->streamer.joinable()) s->streamer.join();
    if (s->sock >= 0) ::close(s->sock);
  }
  if (link.bell >= 0) ::close(link.bell);
}

// ---- starting ----

void PoolEngine::Impl::ensure_started() {
  {
    pyconc::detail::LockGuard guard(m);
    if (started || closed) return;
    started = true;
  }
  std::exception_ptr failed;
  for (auto& s : slots) {
    try {
      start_worker(*s);
    } catch (...) {
      failed = std::current_exception();
      break;
    }
  }
  {
    std::lock_guard<std::mutex> once(join_mutex);
    collector = std::thread([self = shared_from_this()] { self->collect(); });
  }
  if (failed) {
    break_pool(failed);
    std::rethrow_exception(failed);
  }
}

void PoolEngine::Impl::start_worker(Slot& s) {
  s.in.reset();
  s.out.reset();
  s.header->current.store(0);
  s.reading = false;
  s.buf.clear();
  s.gone.store(false);
  long long max = config.max_tasks_per_child.value_or(0);
  std::string name = config.name_prefix + "-" + std::to_string(++started_workers);
  // A fresh socket for fds each time: one a dead worker left unread must not reach the next.
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) raise_os_error(errno, "socketpair");
  Process p(ProcessOptions{.name = name, .daemon = true}, &pool::worker_main, link, s.index,
            pool::FdChannel{pair[1]}, config.initializer, max);
  get_context(config.start_method).bind(p);
  try {
    p.start();
  } catch (...) {
    ::close(pair[0]);
    ::close(pair[1]);
    throw;
  }
  ::close(pair[1]);  // the worker has its copy (inherited, or sent with the launch)
  if (s.sock >= 0) ::close(s.sock);
  s.sock = pair[0];
  int fd = p.sentinel();
  pyconc::detail::LockGuard guard(m);
  s.process = std::move(p);
  s.pidfd = fd;
  s.pid = *s.process->pid();
  s.quota = config.max_tasks_per_child.value_or(-1);
  s.ema_ns = -1;
  s.stop_sent = false;
  s.live = true;
  pump();
}

// ---- ending ----

void PoolEngine::Impl::break_pool(std::exception_ptr error) {
  std::vector<PoolTask*> failed;
  {
    pyconc::detail::LockGuard guard(m);
    if (!broken_error) broken_error = error;
    closed = true;
    closing.store(true);
    failed.assign(pending.begin(), pending.end());
    pending.clear();
    for (auto& s : slots)
      if (s->live && s->process) s->process->terminate();
  }
  for (PoolTask* t : failed) {
    t->fail(error);
    t->release_task();
  }
  wake();
}

void PoolEngine::Impl::terminate(std::exception_ptr error, int signal) {
  std::vector<PoolTask*> failed;
  bool running;
  {
    pyconc::detail::LockGuard guard(m);
    closed = true;
    closing.store(true);
    if (!terminate_error) terminate_error = error;
    stopping.store(true);
    failed.assign(pending.begin(), pending.end());
    pending.clear();
    running = started;
    for (auto& s : slots)
      if (s->live && s->process) {
        if (signal == SIGKILL) s->process->kill();
        else s->process->terminate();
      }
  }
  for (PoolTask* t : failed) {
    t->fail(error);
    t->release_task();
  }
  if (running) {
    wake();
    wait_finished();
  }
}

void PoolEngine::Impl::wait_finished() {
  // From the collector itself (a callback that ends the pool): it cannot wait for
  // itself; it finishes once the callback returns.
  if (collector_id.load() == std::this_thread::get_id()) return;
  {
    pyconc::detail::LockGuard guard(m);
    if (!started) {
      finished = true;
      return;
    }
    while (!finished) finished_cv.wait(m, pyconc::detail::Deadline::never());
  }
  std::lock_guard<std::mutex> once(join_mutex);
  if (collector.joinable()) collector.join();
}

// ---- the public face ----

PoolEngine::PoolEngine(EngineConfig config) : impl_(std::make_shared<Impl>(std::move(config))) {
  if (!impl_->config.lazy_start) impl_->ensure_started();
}

PoolEngine::~PoolEngine() {
  try {
    impl_->terminate(std::make_exception_ptr(ProcessError("the pool was destroyed before the task completed")), SIGTERM);
  } catch (...) {
  }
}

void PoolEngine::submit(PoolTask* task) { impl_->submit(std::span<PoolTask* const>(&task, 1)); }
void PoolEngine::submit_many(std::vector<PoolTask*> tasks) {
  if (!tasks.empty()) impl_->submit(std::span<PoolTask* const>(tasks));
}

void PoolEngine::close() noexcept {
  {
    pyconc::detail::LockGuard guard(impl_->m);
    impl_->closed = true;
    impl_->closing.store(true);
  }
  impl_->wake();
}

bool PoolEngine::closed() const noexcept {
  pyconc::detail::LockGuard guard(impl_->m);
  return impl_->closed;
}

std::string worker_name_stem(const std::string& start_method) {
  if (start_method == "spawn") return "Spawn";
  if (start_method == "forkserver") return "ForkServer";
  return "Fork";
}

bool PoolEngine::accepting() const noexcept { return !impl_->closing.load(std::memory_order_acquire); }

void PoolEngine::join() { impl_->wait_finished(); }

bool PoolEngine::joined() const noexcept {
  pyconc::detail::LockGuard guard(impl_->m);
  return impl_->finished || !impl_->started;
}

void PoolEngine::cancel_pending() noexcept {
  std::deque<PoolTask*> cancelled;
  {
    pyconc::detail::LockGuard guard(impl_->m);
    cancelled.swap(impl_->pending);
  }
  for (PoolTask* t : cancelled) {
    t->cancel_pending();
    t->release_task();
  }
  impl_->wake();
}

void PoolEngine::terminate(std::exception_ptr error, int signal) { impl_->terminate(std::move(error), signal); }

std::exception_ptr PoolEngine::broken() const {
  pyconc::detail::LockGuard guard(impl_->m);
  return impl_->broken_error;
}

std::vector<int> PoolEngine::worker_pids() const {
  std::vector<int> pids;
  pyconc::detail::LockGuard guard(impl_->m);
  for (auto& s : impl_->slots)
    if (s->live) pids.push_back(s->pid);
  return pids;
}

int PoolEngine::processes() const noexcept { return impl_->config.processes; }

}  // namespace pyconc::multiprocessing::detail
