// Sending tasks to a pool's workers: pending ─► pump() ─► a worker's inbox ring (a
// message larger than the ring: a streamer thread, piece by piece). See pool_engine.cpp.
#include "pool_engine_impl.hpp"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "pyconc/futures/future.hpp"
#include "pyconc/pickle/exceptions.hpp"

namespace pyconc::multiprocessing::detail {

using pool::Ring;
using Clock = std::chrono::steady_clock;

namespace {

// [u64 length][u64 id][u32 fds][u32 claim word]: the head of a task in an inbox.
constexpr std::size_t kHead = 24;
void frame_head(std::byte (&head)[kHead], const PoolTask& task) {
  std::uint64_t len = 16 + task.message.size(), id = task.id;
  auto nfds = static_cast<std::uint32_t>(task.fds.size());
  std::memcpy(head, &len, 8);
  std::memcpy(head + 8, &id, 8);
  std::memcpy(head + 16, &nfds, 4);
  std::memcpy(head + 20, &task.claim_index, 4);
}

// The fds of a task's arguments go first, on the slot's socket; false when the worker
// is gone.
bool send_task_fds(Slot& s, const PoolTask& task) {
  if (task.fds.empty()) return true;
  try {
    send_fds(s.sock, task.fds);
    return true;
  } catch (const OSError&) {
    return false;
  }
}

}  // namespace

void PoolEngine::Impl::submit(std::span<PoolTask* const> tasks) {
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
  if (s.ema_ns < 0 || !config.adaptive_prefetch) return 2;
  double queued = 200'000.0 / (s.ema_ns > 1 ? s.ema_ns : 1);
  return static_cast<std::size_t>(std::clamp(queued, 2.0, 64.0));
}

void PoolEngine::Impl::pump() {
  while (!pending.empty()) {
    PoolTask* task = pending.front();
    std::uint64_t bytes = kHead + task->message.size();
    Slot* best = nullptr;
    for (auto& s : slots) {
      if (!s->live || s->stop_sent || s->streaming || s->quota == 0 || s->inflight.size() >= limit(*s)) continue;
      if (bytes <= s->in.capacity() && s->in.writable() < bytes) continue;
      if (!best || s->inflight.size() < best->inflight.size()) best = s.get();
    }
    if (!best) return;
    pending.pop_front();
    if (config.claim_in_worker) {
      if (task->is_cancelled()) {  // cancelled while pending
        task->skipped();
        task->release_task();
        continue;
      }
      // Sent still pending: publish its claim word, then look again (cancel() publishes
      // the cancellation, then looks at the word: one of the two sees the other).
      task->claim_index = best->claim_next++ % pool::kClaimWords;
      std::atomic<std::uint32_t>& word = best->header->claims[task->claim_index];
      task->claim_tag = static_cast<std::uint32_t>(task->id << 2);
      word.store(task->claim_tag | PoolTask::kClaimQueued, std::memory_order_seq_cst);
      task->claim_word.store(&word, std::memory_order_seq_cst);
      if (task->is_cancelled()) {
        std::uint32_t expected = task->claim_tag | PoolTask::kClaimQueued;
        word.compare_exchange_strong(expected, task->claim_tag | PoolTask::kClaimCancelled);
      }
    } else if (!task->claimed && !task->claim()) {  // cancelled while pending
      task->release_task();
      continue;
    }
    task->claimed = true;
    best->inflight.push_back(task);
    if (best->quota > 0) --best->quota;
    if (bytes > best->in.capacity()) {
      best->streaming = true;
      if (best->streamer.joinable()) best->streamer.join();  // finished (streaming was false)
      task->retain_task();  // the streamer's: the task may end (and be freed) before it returns
      best->streamer = std::thread([self = shared_from_this(), best, task] { self->stream(*best, task); });
      continue;
    }
    if (!send_task_fds(*best, *task)) continue;  // the worker is gone: its end will requeue it
    std::byte head[kHead];
    frame_head(head, *task);
    best->in.put(head, sizeof head);
    best->in.put(task->message.data(), task->message.size());
    best->in.publish();
    best->in.wake_reader();
    // A task is sent again only by Pool (when its worker died before starting it); an
    // executor's task needs its message no more, and a stream of submissions reuses
    // the memory at once.
    if (config.on_death == EngineConfig::OnDeath::break_pool) std::vector<std::byte>().swap(task->message);
  }
}

void PoolEngine::Impl::stream(Slot& s, PoolTask* task) {
  // Only this thread writes into s.in while s.streaming.
  const std::vector<std::byte>& msg = task->message;
  std::byte head[kHead];
  frame_head(head, *task);
  bool aborted = !send_task_fds(s, *task);
  const std::byte* parts[2] = {head, msg.data()};
  std::uint64_t sizes[2] = {sizeof head, msg.size()};
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
  task->release_task();
  pyconc::detail::LockGuard guard(m);
  s.streaming = false;
  wake();
}

bool PoolEngine::Impl::wait_room(Slot& s) {
  // Slices of 10 ms: a worker that died, or a pool being terminated, ends the wait.
  pool::RingCounters& c = s.in.counters();
  return pool::wait_until([&s] { return s.in.writable() > 0; }, [&] { return s.gone.load() || stopping.load(); },
                          c.space_seq, c.writer_sleeping, std::chrono::milliseconds(10), false);
}

void PoolEngine::Impl::wake() noexcept {
  poked.store(true);
  std::uint64_t one = 1;
  ssize_t r;
  do r = ::write(link.bell, &one, sizeof one);
  while (r < 0 && errno == EINTR);
}

}  // namespace pyconc::multiprocessing::detail
