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
#include "pool_engine_impl.hpp"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
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

namespace {

std::string describe_end(int pid, std::optional<int> code) {
  std::string who = "pid " + std::to_string(pid);
  if (!code) return who + ", exit status unknown";
  if (*code < 0) {
    int sig = -*code;
    const char* name = ::sigabbrev_np(sig);
    return who + ", killed by signal " + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : "");
  }
  return who + ", exit code " + std::to_string(*code);
}

}  // namespace

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
  for (auto& s : slots)
    if (s->streamer.joinable()) s->streamer.join();
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
  Process p(ProcessOptions{.name = name, .daemon = true}, &pool::worker_main, link, s.index, config.initializer, max);
  get_context(config.start_method).bind(p);
  p.start();
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

// ---- sending ----

void PoolEngine::Impl::submit(std::vector<PoolTask*> tasks) {
  std::exception_ptr refuse;
  bool start = false;
  {
    pyconc::detail::LockGuard guard(m);
    if (broken_error) refuse = broken_error;
    else if (closed) refuse = std::make_exception_ptr(RuntimeError("cannot schedule new futures after shutdown"));
    else {
      for (PoolTask* t : tasks) {
        t->id = ++next_id;
        pending.push_back(t);
      }
      if (started) pump();
      else start = true;
    }
  }
  if (refuse) {
    for (PoolTask* t : tasks) {
      t->fail(refuse);
      t->release_task();
    }
    return;
  }
  if (start) ensure_started();
}

std::size_t PoolEngine::Impl::limit(const Slot& s) const {
  if (s.ema_ns < 0) return 2;
  double queued = 200'000.0 / (s.ema_ns > 1 ? s.ema_ns : 1);
  return static_cast<std::size_t>(std::clamp(queued, 2.0, 64.0));
}

void PoolEngine::Impl::pump() {
  while (!pending.empty()) {
    PoolTask* task = pending.front();
    std::uint64_t bytes = 16 + task->message.size();
    Slot* best = nullptr;
    for (auto& s : slots) {
      if (!s->live || s->stop_sent || s->streaming || s->quota == 0 || s->inflight.size() >= limit(*s)) continue;
      if (bytes <= s->in.capacity() && s->in.writable() < bytes) continue;
      if (!best || s->inflight.size() < best->inflight.size()) best = s.get();
    }
    if (!best) return;
    pending.pop_front();
    if (!task->claimed && !task->claim()) {  // cancelled while pending
      task->release_task();
      continue;
    }
    task->claimed = true;
    best->inflight.push_back(task);
    if (best->quota > 0) --best->quota;
    if (bytes > best->in.capacity()) {
      best->streaming = true;
      if (best->streamer.joinable()) best->streamer.join();  // finished (streaming was false)
      best->streamer = std::thread([self = shared_from_this(), best, task] { self->stream(*best, task); });
      continue;
    }
    std::uint64_t head[2] = {8 + task->message.size(), task->id};
    best->in.put(head, sizeof head);
    best->in.put(task->message.data(), task->message.size());
    best->in.publish();
    best->in.wake_reader();
  }
}

void PoolEngine::Impl::stream(Slot& s, PoolTask* task) {
  // Only this thread writes into s.in while s.streaming.
  const std::vector<std::byte>& msg = task->message;
  std::uint64_t head[2] = {8 + msg.size(), task->id};
  const std::byte* parts[2] = {reinterpret_cast<const std::byte*>(head), msg.data()};
  std::uint64_t sizes[2] = {sizeof head, msg.size()};
  bool aborted = false;
  for (int p = 0; p < 2 && !aborted; ++p) {
    const std::byte* src = parts[p];
    std::uint64_t n = sizes[p];
    while (n > 0) {
      std::uint64_t room = s.in.writable();
      if (room == 0) {
        s.in.publish();
        s.in.wake_reader();
        if (!wait_room(s)) {
          aborted = true;
          break;
        }
        continue;
      }
      std::uint64_t k = room < n ? room : n;
      s.in.put(src, k);
      src += k;
      n -= k;
    }
  }
  s.in.publish();
  s.in.wake_reader();
  pyconc::detail::LockGuard guard(m);
  s.streaming = false;
  wake();
}

bool PoolEngine::Impl::wait_room(Slot& s) {
  pool::RingCounters& c = s.in.counters();
  for (;;) {
    if (s.gone.load() || stopping.load()) return false;
    std::uint32_t seq = c.space_seq.load(std::memory_order_acquire);
    c.writer_sleeping.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (s.in.writable() == 0)
      pyconc::detail::futex_wait(c.space_seq, seq, pyconc::detail::Deadline::after(std::chrono::milliseconds(10)), true);
    c.writer_sleeping.store(0, std::memory_order_relaxed);
    if (s.in.writable() > 0) return true;
  }
}

void PoolEngine::Impl::wake() noexcept {
  poked.store(true);
  std::uint64_t one = 1;
  ssize_t r;
  do r = ::write(link.bell, &one, sizeof one);
  while (r < 0 && errno == EINTR);
}

// ---- collecting ----

bool PoolEngine::Impl::read_messages(Slot& s, std::vector<Message>& out) {
  bool any = false;
  for (;;) {
    if (!s.reading) {
      if (s.out.readable() < 8) break;
      std::uint64_t len;
      s.out.take(&len, 8);
      if (len < 13 || len > pool::kMaxMessage) {  // a corrupt outbox: this worker is unusable
        s.corrupt = true;
        if (s.process) s.process->kill();
        break;
      }
      s.need = len;
      s.reading = true;
      s.buf.clear();
      any = true;
    }
    std::uint64_t avail = s.out.readable();
    if (avail == 0) break;
    std::uint64_t k = std::min<std::uint64_t>(avail, s.need - s.buf.size());
    std::size_t at = s.buf.size();
    s.buf.resize(at + k);
    s.out.take(s.buf.data() + at, k);
    s.out.wake_writer();
    any = true;
    if (s.buf.size() == s.need) {
      Message msg;
      std::memcpy(&msg.id, s.buf.data(), 8);
      msg.status = static_cast<std::uint8_t>(s.buf[8]);
      std::memcpy(&msg.ns, s.buf.data() + 9, 4);
      msg.payload.assign(s.buf.begin() + 13, s.buf.end());
      msg.slot = &s;
      out.push_back(std::move(msg));
      s.reading = false;
      if (s.buf.capacity() > (std::size_t{1} << 20)) std::vector<std::byte>().swap(s.buf);
    }
  }
  if (any) s.out.wake_writer();
  return any;
}

void PoolEngine::Impl::deliver(std::vector<Message>& messages) {
  std::vector<std::pair<PoolTask*, Message*>> finished;
  std::exception_ptr init_error;
  {
    pyconc::detail::LockGuard guard(m);
    for (Message& msg : messages) {
      Slot& s = *msg.slot;
      if (msg.status == pool::kInitFailed) {
        init_error = pyconc::pickle::load_exception(msg.payload);
        continue;
      }
      if (s.inflight.empty() || s.inflight.front()->id != msg.id) continue;  // not ours: ignore
      finished.emplace_back(s.inflight.front(), &msg);
      s.inflight.pop_front();
      double ns = msg.ns;
      s.ema_ns = s.ema_ns < 0 ? ns : 0.8 * s.ema_ns + 0.2 * ns;
    }
    if (!finished.empty()) pump();
  }
  for (auto& [task, msg] : finished) {
    if (msg->status == pool::kOk) {
      task->complete(msg->payload);
    } else {
      std::exception_ptr e;
      try {
        e = pyconc::pickle::load_exception(msg->payload);
      } catch (...) {
        e = std::current_exception();
      }
      task->fail(e);
    }
    task->release_task();
  }
  messages.clear();
  if (init_error) {
    std::string what = describe_exception(init_error);
    if (config.on_death == EngineConfig::OnDeath::break_pool)
      break_pool(std::make_exception_ptr(futures::BrokenProcessPool(
          "A process in the process pool failed in its initializer: " + what)));
    else
      break_pool(std::make_exception_ptr(ProcessError("a pool worker's initializer raised " + what)));
  }
}

void PoolEngine::Impl::collect() {
  collector_id.store(std::this_thread::get_id());
  std::vector<Message> messages;
  auto last_check = Clock::now();
  auto idle_since = Clock::now();
  for (;;) {
    bool progress = false;
    for (auto& s : slots)
      if (s->live) progress |= read_messages(*s, messages);
    if (!messages.empty()) deliver(messages);
    if (poked.exchange(false)) {  // a streamer finished, or close/terminate/cancel
      progress = true;
      pyconc::detail::LockGuard guard(m);
      pump();
    }
    auto now = Clock::now();
    if (now - last_check > std::chrono::milliseconds(2)) {
      last_check = now;
      check_workers(0);
    }
    if (maybe_finish()) return;
    if (progress) {
      idle_since = now;
      continue;
    }
    if (now - idle_since < pool::kSpinFor) {
      pyconc::detail::cpu_relax();
      continue;
    }
    // Sleep: say so, look once more, then poll the bell and the pidfds.
    layout.header->collector_sleeping.store(1);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    bool ready = poked.load();
    for (auto& s : slots)
      if (s->live && s->out.readable()) ready = true;
    if (!ready) check_workers(-1);
    layout.header->collector_sleeping.store(0);
    layout.header->rung.store(0);
    std::uint64_t drained;
    while (::read(link.bell, &drained, sizeof drained) > 0) {
    }
    idle_since = Clock::now();
    last_check = idle_since;
  }
}

void PoolEngine::Impl::check_workers(int timeout_ms) {
  std::vector<pollfd> fds;
  std::vector<Slot*> who;
  fds.push_back({link.bell, POLLIN, 0});
  who.push_back(nullptr);
  for (auto& s : slots)
    if (s->live) {
      fds.push_back({s->pidfd, POLLIN, 0});
      who.push_back(s.get());
    }
  int r = ::poll(fds.data(), fds.size(), timeout_ms < 0 ? 1000 : timeout_ms);
  if (r <= 0) return;
  for (std::size_t i = 1; i < fds.size(); ++i)
    if (fds[i].revents) worker_ended(*who[i]);
}

void PoolEngine::Impl::worker_ended(Slot& s) {
  s.gone.store(true);
  if (s.streamer.joinable()) s.streamer.join();
  std::vector<Message> messages;
  while (read_messages(s, messages)) {
  }
  if (!messages.empty()) deliver(messages);
  s.process->join();
  std::optional<int> code = s.process->exitcode();
  std::string how = describe_end(s.pid, code);

  std::vector<PoolTask*> failed;
  std::exception_ptr error;
  bool replace = false;
  {
    pyconc::detail::LockGuard guard(m);
    s.live = false;
    s.streaming = false;
    std::uint64_t current = s.header->current.load();
    bool expected = s.inflight.empty() && !s.corrupt && code == 0 && (s.stop_sent || s.quota == 0);
    if (terminate_error) {
      error = terminate_error;
      failed.assign(s.inflight.begin(), s.inflight.end());
      s.inflight.clear();
    } else if (broken_error) {
      error = broken_error;
      failed.assign(s.inflight.begin(), s.inflight.end());
      s.inflight.clear();
    } else if (!expected && config.on_death == EngineConfig::OnDeath::break_pool) {
      broken_error = std::make_exception_ptr(futures::BrokenProcessPool(
          "A process in the process pool was terminated abruptly while the future was running or pending (" + how +
          ")"));
      error = broken_error;
      closed = true;
      closing.store(true);
      failed.assign(s.inflight.begin(), s.inflight.end());
      s.inflight.clear();
      failed.insert(failed.end(), pending.begin(), pending.end());
      pending.clear();
      for (auto& o : slots) {
        failed.insert(failed.end(), o->inflight.begin(), o->inflight.end());
        o->inflight.clear();
        if (o->live && o->process) o->process->terminate();
      }
    } else {
      // fail_task: only the task it held fails; what it had not started runs elsewhere.
      if (!s.inflight.empty() && s.inflight.front()->id == current && current != 0) {
        failed.push_back(s.inflight.front());
        s.inflight.pop_front();
        error = std::make_exception_ptr(
            WorkerLostError("Pool worker exited prematurely while running this task (" + how + ")"));
      }
      pending.insert(pending.begin(), s.inflight.begin(), s.inflight.end());
      s.inflight.clear();
      replace = !closed || !pending.empty() || any_inflight();
    }
    s.process.reset();
    s.pidfd = -1;
  }
  for (PoolTask* t : failed) {
    t->fail(error);
    t->release_task();
  }
  if (replace) {
    try {
      start_worker(s);
    } catch (...) {
      break_pool(std::current_exception());
    }
  }
}

bool PoolEngine::Impl::any_inflight() const {
  for (auto& s : slots)
    if (!s->inflight.empty()) return true;
  return false;
}

bool PoolEngine::Impl::maybe_finish() {
  if (!closing.load()) return false;
  bool done = false;
  {
    pyconc::detail::LockGuard guard(m);
    if (!closed) return false;
    bool busy = !pending.empty() || any_inflight();
    bool live = false;
    for (auto& s : slots) {
      if (!s->live) continue;
      live = true;
      if (!busy && !s->stop_sent && !s->streaming) {
        std::uint64_t stop = 0;
        if (s->in.writable() >= sizeof stop) {
          s->in.put(&stop, sizeof stop);
          s->in.publish();
          s->in.wake_reader();
          s->stop_sent = true;
        }
      }
    }
    if (live || busy) return false;
    finished = true;
    done = true;
  }
  for (auto& s : slots)
    if (s->streamer.joinable()) s->streamer.join();
  finished_cv.notify_all();
  return done;
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

void PoolEngine::submit(PoolTask* task) { impl_->submit({task}); }
void PoolEngine::submit_many(std::vector<PoolTask*> tasks) {
  if (!tasks.empty()) impl_->submit(std::move(tasks));
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
