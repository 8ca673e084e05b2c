// Collecting a pool's results and watching its workers: the collector thread reads
// the outbox rings, sleeps in poll() on the bell and the pidfds, and handles a worker's
// end (results first, then the task it held). See pool_engine.cpp.
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
      s.buf.reserve(std::min<std::uint64_t>(len, pool::kRingBytes));
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
      msg.bytes = std::move(s.buf);
      s.buf = ReadBuffer();
      msg.slot = &s;
      out.push_back(std::move(msg));
      s.reading = false;
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
        init_error = pyconc::pickle::load_exception(msg.payload());
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
    if (msg->status == pool::kSkipped) {
      task->skipped();
      task->release_task();
      continue;
    }
    if (config.claim_in_worker) {
      // Running first, then out of the worker's hands: a cancel() from now on finds it
      // running (false), as it should, since it ran.
      task->claim();
      task->claim_word.store(nullptr, std::memory_order_seq_cst);
    }
    if (msg->status == pool::kOk) {
      task->complete(msg->payload());
    } else {
      std::exception_ptr e;
      try {
        e = pyconc::pickle::load_exception(msg->payload());
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
  // pump() may start a streamer for this slot from any thread, under the lock: take the
  // slot out of its choice and the streamer out of the slot under the lock, then wait
  // for the streamer (which gives up once `gone`).
  std::thread streamer;
  {
    pyconc::detail::LockGuard guard(m);
    s.gone.store(true);
    s.live = false;
    streamer = std::move(s.streamer);
  }
  if (streamer.joinable()) streamer.join();
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
      for (PoolTask* t : s.inflight) t->claim_word.store(nullptr, std::memory_order_seq_cst);
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

}  // namespace pyconc::multiprocessing::detail
