// The work queue of ThreadPoolExecutor: an unbounded FIFO with a wake-up policy made
// for a pool, so that a stream of submissions costs no system call.
//
//   submit ──► ring (put lock) ──► a polling worker takes the item (no syscall)
//     │ a worker asleep without a wake-up on its way: wake it (seen under the put lock)
//     ▼
//   idle worker: poll the ring with backoff a while, then sleep until a put
//
// The ring (pyconc/queue/detail/ring_store.hpp, unbounded) counts sleeping workers under its
// put lock, which a submit holds anyway: a submit learns whether to wake somebody with
// a plain read, and wakes at most one sleeper per sleep (pending wake-ups are counted).
// A worker woken for a burst polls for ~80 µs before sleeping again, so a steady
// stream of submissions wakes nobody after its first task; an idle worker never sleeps
// while work waits (Python's pool: an idle worker takes a new task at once).
#pragma once

#include <sched.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "pyconc/detail/futex.hpp"
#include "pyconc/queue/detail/ring_store.hpp"

namespace pyconc::futures::detail {

template <class T>
class WorkQueue {
 public:
  /// Appends `item`; wakes a sleeping worker if one sleeps without a wake-up on its
  /// way. Never blocks. False (and `item` untouched) once closed.
  bool put(T&& item) { return store_.try_push(std::move(item)) == pyconc::detail::PushResult::ok; }

  /// Refuses later puts; the workers take what is queued, then get() says closed.
  void close() {
    store_.close();
    store_.wake_all();
  }

  /// Takes an item without waiting.
  std::optional<T> try_get() {
    std::optional<T> out;
    store_.try_pop(out);
    return out;
  }

  /// Takes the next item: polls with backoff while there is none, then sleeps.
  /// nullopt once the queue is closed and empty.
  std::optional<T> get() {
    using pyconc::detail::PopResult;
    std::optional<T> out;
    bool slept = false;
    for (;;) {
      PopResult r = store_.try_pop(out);
      if (r == PopResult::empty) r = poll(out);
      if (r == PopResult::ok) break;
      if (r == PopResult::shutdown) return std::nullopt;
      // Nothing came: sleep. Registered under the put lock, so every later put (and
      // close) sees us; an item put before is found by the re-check.
      std::uint32_t key = store_.prepare_get_wait();
      r = store_.try_pop(out);
      if (r != PopResult::empty) {
        store_.cancel_get_wait();
        if (r == PopResult::shutdown) return std::nullopt;
        break;
      }
      store_.get_wait(key, pyconc::detail::Deadline::never());
      slept = true;
    }
    // A worker that slept passes the baton: while more items wait, the next sleeper
    // wakes too, so a burst never leaves sleepers behind work.
    if (slept && store_.size() > 0) store_.wake_getter();
    return out;
  }

 private:
  // About 20-80 µs of polling (in pauses): longer than the gap between submissions of
  // a busy submitter, much shorter than a scheduler tick.
  static constexpr int kSpins = 4096;
  // A poller looks at the queue after kFirstPause pauses (~1 µs), then twice that, then
  // every kMaxPause: each look pulls the queue's tail line away from the submitter, who
  // then waits for it on its next submit; with a look every pause, that was most of
  // submit()'s time (thread_pool_submit: 2.1M tasks/s with a look every pause, 2.5M
  // every 32-128 pauses, 3.0M every 64-256).
  static constexpr int kFirstPause = 64;
  static constexpr int kMaxPause = 256;
  // A poller yields the CPU after about this many pauses: when threads outnumber cores
  // (2 workers and a submitter on 2 cores), a poller must not take half a core from
  // the submitter.
  static constexpr int kYieldEvery = 64;

  // Polls for an item for about kSpins pauses: ok with `out` filled if one came,
  // shutdown if the queue was closed and is empty, else empty.
  pyconc::detail::PopResult poll(std::optional<T>& out) {
    int pause = kFirstPause, since_yield = 0;
    for (int spent = 0; spent < kSpins; spent += pause, pause = std::min(2 * pause, kMaxPause)) {
      for (int i = 0; i < pause; ++i) pyconc::detail::cpu_relax();
      pyconc::detail::PopResult r = store_.try_pop(out);
      if (r != pyconc::detail::PopResult::empty) return r;
      if ((since_yield += pause) >= kYieldEvery) {
        ::sched_yield();
        since_yield = 0;
      }
    }
    return pyconc::detail::PopResult::empty;
  }

  pyconc::detail::RingStore<T> store_{0};  // unbounded; closed by ThreadPoolExecutor's shutdown
};

}  // namespace pyconc::futures::detail
